"""The append-only audit log: who did what to which subject, and when."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
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


def audit_entries(
    session: Session,
    *,
    limit: int = 100,
    before: int | None = None,
    action: str | None = None,
    subject: str | None = None,
    officer_id: int | None = None,
) -> list[tuple[AuditLog, str | None]]:
    """The newest entries first (ids below `before`), each with its officer's name."""
    stmt = (
        select(AuditLog, Officer.name)
        .outerjoin(Officer, Officer.id == AuditLog.officer_id)
        .order_by(AuditLog.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(AuditLog.id < before)
    if action:
        stmt = stmt.where(AuditLog.action.startswith(action, autoescape=True))
    if subject:
        stmt = stmt.where(AuditLog.subject.startswith(subject, autoescape=True))
    if officer_id is not None:
        stmt = stmt.where(AuditLog.officer_id == officer_id)
    return [(entry, name) for entry, name in session.execute(stmt)]


def count_since(session: Session, action: str, subject: str, since: dt.datetime) -> int:
    """How many entries of this action on this subject since an instant."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == action, AuditLog.subject == subject, AuditLog.at >= since)
        )
        or 0
    )
