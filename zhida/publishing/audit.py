"""The append-only audit log: who did what to which subject, and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from zhida.store.models import AuditLog, Officer


def audit(
    session: Session, officer: Officer | None, action: str, subject: str, detail: dict[str, Any]
) -> None:
    session.add(
        AuditLog(
            officer_id=officer.id if officer else None,
            action=action,
            subject=subject,
            detail=detail,
        )
    )
