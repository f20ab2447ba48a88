"""The one error of the policy lifecycle."""

from __future__ import annotations

from zhida.errors import ZhidaError


class PublishError(ZhidaError):
    """A refused step of the policy lifecycle (printed as `error: ...`)."""
