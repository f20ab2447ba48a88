"""Logging for `zhida serve`: uvicorn's configuration with every line redacted.

uvicorn's access log records each request path, and `/a/TOKEN` and `/login/TOKEN`
paths carry secrets: a filter on every handler rewrites the formatted line through
`zhida.redact.redact` (tokens cut, phone numbers masked). zhida's own loggers go
to the same handler at INFO.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG

from zhida.redact import redact


class RedactFilter(logging.Filter):
    """Redacts the record's message and each of its text arguments (kept as arguments:
    uvicorn's access formatter unpacks them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration, redacted, plus the `zhida` loggers."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": f"{__name__}.RedactFilter"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact")
    config["loggers"]["zhida"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
