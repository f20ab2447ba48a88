"""The review queue: ambiguous entity-resolution matches wait here for a person, who
accepts one (merge into the candidate) or rejects it (a new profile). Nothing is merged
silently; each decision is in the audit log."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from zhida.clock import utcnow
from zhida.errors import ZhidaError
from zhida.ingest.store_view import LINK_ACTION
from zhida.ingest.upsert import upsert_profiles
from zhida.profiles.schema import Audience
from zhida.store.models import AuditLog, Profile, ReviewItem
from zhida.store.profiles import profile_json, stored_profile


def save_reviews(
    session: Session, reviews: list[tuple[dict[str, Any], pl.DataFrame]], source: str
) -> None:
    """New review items (from an import: per audience, extra fields of `incoming` and the
    rows); an open item for the same incoming id is replaced, not repeated."""
    if not reviews:
        return
    open_items = {
        str(inc.get("id")): item_id
        for item_id, inc in session.execute(
            select(ReviewItem.id, ReviewItem.incoming).where(ReviewItem.status == "open")
        )
    }
    fresh: list[dict[str, Any]] = []
    for extra, frame in reviews:
        for r in frame.iter_rows(named=True):
            meta = {k: r.pop(k) for k in ("row", "candidate", "score", "reason")}
            incoming = {**profile_json(r), **extra}
            values = {
                "incoming": incoming,
                "candidate_id": meta["candidate"],
                "score": float(meta["score"] or 0.0),
                "reason": meta["reason"] or "",
                "source": source[:200],
            }
            old = open_items.get(str(incoming.get("id")))
            if old is not None:
                item = session.get(ReviewItem, old)
                assert item is not None
                for k, v in values.items():
                    setattr(item, k, v)
                item.created_at = utcnow()
            else:
                fresh.append({**values, "status": "open"})
    if fresh:
        session.execute(insert(ReviewItem), fresh)


def list_reviews(session: Session, status: str | None = "open") -> list[ReviewItem]:
    """Review items, oldest first; `status=None` lists all."""
    stmt = select(ReviewItem).order_by(ReviewItem.id)
    if status is not None:
        stmt = stmt.where(ReviewItem.status == status)
    return list(session.scalars(stmt))


def _open_item(session: Session, item_id: int) -> ReviewItem:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise ZhidaError(f"no review item {item_id}")
    if item.status != "open":
        raise ZhidaError(f"review item {item_id} is already closed ({item.status})")
    return item


def _write_one(
    session: Session, profile_id: str, kind: str, data: dict[str, Any], source: str
) -> None:
    body = stored_profile(profile_id, data)
    upsert_profiles(
        session,
        pl.DataFrame(
            {"id": [profile_id], "kind": [kind], "data": [json.dumps(body, ensure_ascii=False)]}
        ),
        source,
    )


def accept_review(session: Session, item_id: int, officer_id: int | None = None) -> str:
    """Merge the item's incoming row into its candidate; returns the candidate's id."""
    item = _open_item(session, item_id)
    incoming = dict(item.incoming)
    kind = str(incoming.get("kind", Audience.ENTERPRISE.value))
    target = item.candidate_id
    stored = session.get(Profile, target) if target else None
    if target is None or stored is None:
        raise ZhidaError(
            f"review item {item_id}: the candidate profile {target} no "
            "longer exists; reject the item to create a new profile"
        )
    if stored.kind != kind:
        raise ZhidaError(
            f"review item {item_id}: the candidate {target} is a "
            f"{stored.kind} profile, the incoming row a {kind} one"
        )
    _write_one(session, target, kind, incoming, item.source)
    item.status = "merged"
    incoming_id = str(incoming.get("id", ""))
    detail = {
        "item": item_id,
        "incoming": incoming_id,
        "target": target,
        "score": item.score,
        "source": item.source,
    }
    session.add_all(
        [
            AuditLog(
                officer_id=officer_id,
                action="review.accept",
                subject=f"review:{item_id}",
                detail=detail,
            ),
            AuditLog(
                officer_id=officer_id,
                action=LINK_ACTION,
                subject=incoming_id,
                detail={
                    "target": target,
                    "kind": kind,
                    "source": item.source,
                    "rule": "review",
                    "score": item.score,
                    "reason": item.reason,
                },
            ),
        ]
    )
    session.flush()
    session.expire(stored)
    return target


def reject_review(session: Session, item_id: int, officer_id: int | None = None) -> str:
    """Not the candidate: store the incoming row as a new profile; returns its id."""
    item = _open_item(session, item_id)
    incoming = dict(item.incoming)
    kind = str(incoming.get("kind", Audience.ENTERPRISE.value))
    new_id = str(incoming.get("id", ""))
    if not new_id:
        raise ZhidaError(f"review item {item_id} has no incoming id")
    existing = session.get(Profile, new_id)
    if existing is not None and existing.kind != kind:
        raise ZhidaError(f"review item {item_id}: id {new_id} is already a {existing.kind} profile")
    _write_one(session, new_id, kind, incoming, item.source)
    item.status = "created"
    session.add(
        AuditLog(
            officer_id=officer_id,
            action="review.reject",
            subject=f"review:{item_id}",
            detail={
                "item": item_id,
                "incoming": new_id,
                "candidate": item.candidate_id,
                "score": item.score,
                "source": item.source,
            },
        )
    )
    session.flush()
    if existing is not None:
        session.expire(existing)
    return new_id
