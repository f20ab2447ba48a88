"""What a profile supplies or contests on /me, and the officer's side of it.

- `declare`: a missing value the profile supplies itself, recorded as a `Declaration`
  (self-declared, for an officer to verify before money moves) and applied at once
  through the real-time path (`zhida.runs.live.process_event`): the new decisions and
  transitions are written as for any event, and the page re-reads them.
- `open_dispute`: 「数据有误」 on a value, stored for an officer.
- `list_disputes`, `resolve_dispute`: for the officer console (its API calls these):
  a correction applies the corrected value through the same real-time path and tells
  the profile in its inbox; a rejection tells them too. `zhida.worker.
  resolve_dispute_and_plan` commits it and plans the newly eligible (as /me's
  declare route does after `declare`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from zhida.channels.inbox import push_message
from zhida.errors import ZhidaError
from zhida.profiles.events import EventError, parse_event
from zhida.store.models import Declaration, Dispute, Transition
from zhida.store.profiles import get_profile

OPEN, CORRECTED, REJECTED = "open", "corrected", "rejected"


class SelfServiceError(ZhidaError):
    """A value that does not fit its field, an unknown field, or a dispute not open."""


class DisputeNotOpen(SelfServiceError):
    """The dispute is unknown or resolved already (an officer's conflict, not a typo)."""


class CorrectionInvalid(SelfServiceError):
    """An officer's corrected value does not fit the field (the reason says why)."""


def _apply(
    session: Session, profile_id: str, field: str, value: Any, as_of: dt.date
) -> list[Transition]:
    from zhida.runs.live import live_matcher, process_event

    stored = get_profile(session, profile_id)
    if stored is None:
        raise SelfServiceError(f"no profile '{profile_id}'")
    matcher = live_matcher(session)  # shared, built once per set of published versions
    try:
        event = parse_event(
            {
                "type": "profile.updated",
                "profile": profile_id,
                "kind": stored[0],
                "fields": {field: value},
            },
            matcher.schemas,
        )
        return process_event(session, matcher, event, as_of)
    except EventError as err:
        raise SelfServiceError(err.reason) from None


def declare(
    session: Session, profile_id: str, field: str, value: Any, now: dt.datetime, as_of: dt.date
) -> list[Transition]:
    """Apply a self-declared value at once (the caller commits, then plans)."""
    made = _apply(session, profile_id, field, value, as_of)
    session.add(
        Declaration(profile_id=profile_id, field=field, value={"value": value}, declared_at=now)
    )
    return made


def declared_fields(session: Session, profile_id: str) -> set[str]:
    """Fields whose value the profile supplied itself and no officer has verified yet."""
    return set(
        session.scalars(
            select(Declaration.field).where(
                Declaration.profile_id == profile_id, Declaration.verified_at.is_(None)
            )
        )
    )


def open_dispute(
    session: Session,
    profile_id: str,
    field: str,
    comment: str,
    now: dt.datetime,
    policy_id: str | None = None,
) -> Dispute:
    dispute = Dispute(
        profile_id=profile_id,
        policy_id=policy_id,
        field=field[:64],
        comment=comment.strip()[:1000],
        status=OPEN,
        created_at=now,
    )
    session.add(dispute)
    session.flush()
    return dispute


def list_disputes(session: Session, status: str | None = OPEN, limit: int = 100) -> list[Dispute]:
    """Disputes (`status` None: all): open ones first (oldest first), then the resolved
    (newest first)."""
    stmt = (
        select(Dispute)
        .order_by(
            case((Dispute.status == OPEN, 0), else_=1),
            case((Dispute.status == OPEN, Dispute.id), else_=-Dispute.id),
        )
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(Dispute.status == status)
    return list(session.scalars(stmt))


def resolve_dispute(
    session: Session,
    dispute_id: int,
    officer_id: int,
    now: dt.datetime,
    as_of: dt.date,
    corrected: Any = None,
    comment: str = "",
) -> list[Transition]:
    """Correct (`corrected` not None: applied and re-evaluated at once) or reject an open
    dispute; the profile is told in its inbox. The transitions of a correction are
    returned for the caller to plan after committing."""
    dispute = session.get(Dispute, dispute_id, with_for_update=True)
    if dispute is None or dispute.status != OPEN:
        raise DisputeNotOpen(f"dispute {dispute_id} is not open")
    made: list[Transition] = []
    if corrected is not None:
        try:
            made = _apply(session, dispute.profile_id, dispute.field, corrected, as_of)
        except SelfServiceError as err:
            raise CorrectionInvalid(str(err).removeprefix(ZhidaError.prefix)) from None
        dispute.status = CORRECTED
        body = "您反映的数据已核实并更正，系统已按更正后的数据重新为您匹配政策。"
    else:
        dispute.status = REJECTED
        body = "您反映的数据经核实无误，未作更改。" + (f"说明：{comment}" if comment else "")
    dispute.resolved_at, dispute.resolved_by, dispute.resolution = now, officer_id, comment
    push_message(
        session, dispute.profile_id, dispute.policy_id or "", "数据核实结果", body, kind="notice"
    )
    return made
