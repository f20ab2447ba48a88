"""The errors of the policy lifecycle: one base, and the kinds the API maps to a status."""

from __future__ import annotations

from zhida.errors import ZhidaError


class PublishError(ZhidaError):
    """A refused step of the policy lifecycle (printed as `error: ...`)."""


class OfficerUnauthenticated(PublishError):
    """No officer: a missing, forged, expired or revoked token or session, or a wrong
    password."""


class OfficerForbidden(PublishError):
    """An officer whose role does not allow the step (or an author approving their own)."""


class VersionNotFound(PublishError):
    """No such policy, version or officer."""


class VersionConflict(PublishError):
    """The step does not fit the version's state (already published, same text twice)."""


class SignInThrottled(PublishError):
    """Too many refused sign-ins for one officer name in a short time."""
