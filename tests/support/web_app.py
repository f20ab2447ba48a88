"""The FastAPI app under a real uvicorn server on a free port, for tests whose peers call
back over HTTP (the fake Twilio's status callbacks)."""

from __future__ import annotations

import threading
from typing import Any

from tests.support.ports import free_port
from tests.support.waiting import wait_until


class WebApp:
    """The FastAPI app under uvicorn in a thread on a free port (status callbacks need a
    real URL)."""

    def __init__(self, app: Any):
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="uvicorn")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebApp:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=10)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def __enter__(self) -> WebApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
