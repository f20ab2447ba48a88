"""Sending a batch of SMS rows: claim them, wait for the rate, call the provider with no
session open, record what it said (the steps of `zhida.channels.delivery.steps`)."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError

from zhida.channels.delivery.digest import follow, members_sent
from zhida.channels.delivery.presend import check_and_compose
from zhida.channels.delivery.receipts import ReceiptStash, apply_receipt
from zhida.channels.delivery.schedule import max_rate_wait, quiet_until
from zhida.channels.delivery.steps import (
    Claimed,
    Outcome,
    SendAction,
    SessionFactory,
    claim_many,
    defer_if_quiet,
    insert_feedback,
    record_error,
    record_sent,
    release,
    skip,
)
from zhida.channels.ratelimit import Bucket, RateLimited
from zhida.channels.sms.base import (
    DELIVERED_STATUSES,
    FAILED_STATUSES,
    ProviderError,
    SendResult,
    SmsProvider,
)
from zhida.clock import utcnow
from zhida.settings import Settings

log = logging.getLogger("zhida.sms")

#: attempts to write a result when the database hiccups after the provider accepted
RECORD_TRIES = 5
#: a batch records what the provider said at least this often (seconds)
FLUSH_EVERY = 0.5
#: an unsure row's lookup starts this long before its claim (clocks differ)
LOOKUP_MARGIN = 120.0


def _with_db_retries(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run a database write a few times (the provider has already been called: losing
    its result would leave the row in sending)."""
    for attempt in range(RECORD_TRIES):
        try:
            return fn(*args)
        except DBAPIError as err:
            if attempt == RECORD_TRIES - 1 or not (err.connection_invalidated or _transient(err)):
                log.critical("could not %s: %s", what, err)
                raise
            time.sleep(0.25 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _transient(err: DBAPIError) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(err, OperationalError | InterfaceError)


def send_sms_notification(
    notification_id: int,
    *,
    sessions: SessionFactory,
    provider: SmsProvider,
    bucket: Bucket,
    settings: Settings,
    stash: ReceiptStash | None = None,
    rng: random.Random | None = None,
) -> Outcome:
    """Send one SMS notification, at most once: `send_sms_batch` of one."""
    return send_sms_batch(
        [notification_id],
        sessions=sessions,
        provider=provider,
        bucket=bucket,
        settings=settings,
        stash=stash,
        rng=rng,
    )[0]


def send_sms_batch(
    ids: Sequence[int],
    *,
    sessions: SessionFactory,
    provider: SmsProvider,
    bucket: Bucket,
    settings: Settings,
    stash: ReceiptStash | None = None,
    rng: random.Random | None = None,
    flush_every: float = FLUSH_EVERY,
) -> list[Outcome]:
    """Send SMS notifications, each at most once (see `zhida.channels.delivery.steps`); one Outcome
    per id, in order.

    1. In one session: defer due rows in quiet hours; claim the others (queued and due
       -> sending; rows not claimed are `not_claimed`); skip (final) those whose number
       opted out or is missing; check the others are still true and compose their
       text and link (`zhida.channels.delivery.presend`: cancelled or given back if
       not); commit and close the session.
    2. For each claimed row, in turn: wait for a token of the cluster-wide rate, then
       call the provider (no session open). If the wait would exceed
       `max_rate_wait(settings)`, the limiter is unreachable, or the batch has run
       longer than that, the rows not yet sent are given back (queued, no attempt
       counted), so no claimed row comes near `sweep_after_seconds`.
    3. Every `flush_every` seconds and at the end, in one new session: record what the
       provider said (sent + FeedbackEvent, or the error: retry or fail), then apply
       receipts that arrived before the reference was recorded."""
    ids = list(dict.fromkeys(int(i) for i in ids))
    outcomes: dict[int, Outcome] = {}
    now = utcnow()
    ready: list[Claimed] = []
    with sessions() as session:
        morning = quiet_until(now, settings)
        for nid in defer_if_quiet(session, ids, now, settings):
            outcomes[nid] = Outcome(nid, SendAction.DEFERRED, detail=f"quiet hours until {morning}")
        for claimed in claim_many(session, [i for i in ids if i not in outcomes], now):
            reason = "no_phone" if not claimed.to else "opted_out" if claimed.opted_out else None
            if reason:
                skip(session, claimed, reason, now)
                if claimed.lead:
                    follow(session, claimed.id)
                outcomes[claimed.id] = Outcome(claimed.id, SendAction.SKIPPED, detail=reason)
            else:
                ready.append(claimed)
        ready, checked = check_and_compose(session, ready, now, settings)
        outcomes.update(checked)
    claimed_ids = {c.id for c in ready}
    for nid in ids:
        if nid not in outcomes and nid not in claimed_ids:
            outcomes[nid] = Outcome(nid, SendAction.NOT_CLAIMED)

    results: list[tuple[Claimed, Result]] = []
    last_flush = started = time.monotonic()
    budget = max_rate_wait(settings)
    for k, claimed in enumerate(ready):
        if k and time.monotonic() - started > budget:  # never near the sweeper's limit
            outcomes.update(
                _give_back(sessions, ready[k:], 0.0, f"batch took longer than {budget:.0f} s")
            )
            break
        try:
            wait = bucket.acquire(1, max_wait=max_rate_wait(settings))
        except RateLimited as limited:
            outcomes.update(
                _give_back(
                    sessions, ready[k:], limited.wait, f"rate limited for {limited.wait:.1f} s"
                )
            )
            break
        except Exception as err:  # the rate limiter (Redis) is down: send nothing more
            log.error("rate limiter unavailable: %s", err)
            outcomes.update(
                _give_back(sessions, ready[k:], 5.0, f"rate limiter unavailable: {err}")
            )
            break
        if wait > 0:
            time.sleep(wait)
        results.append((claimed, _attempt(provider, claimed)))
        if time.monotonic() - last_flush >= flush_every:
            outcomes.update(_flush(sessions, results, settings, rng, stash))
            results, last_flush = [], time.monotonic()
    outcomes.update(_flush(sessions, results, settings, rng, stash))
    return [outcomes[nid] for nid in ids]


@dataclass(frozen=True)
class Found:
    """An unsure row's message, found at the provider: recorded, not sent again."""

    result: SendResult


@dataclass(frozen=True)
class Resent:
    """An unsure row the provider held no message for, sent again: what it said."""

    result: SendResult | ProviderError


Result = SendResult | ProviderError | Found | Resent


def _attempt(provider: SmsProvider, claimed: Claimed) -> Result:
    """Call the provider for a claimed row; an unsure one is looked up first (messages to
    its number since `unsure_since`, less LOOKUP_MARGIN for clock skew) and sent only if
    the provider holds none. A failed lookup leaves it unsure."""
    if claimed.unsure_since is None:
        return _call(provider, claimed)
    since = claimed.unsure_since - dt.timedelta(seconds=LOOKUP_MARGIN)
    try:
        found = provider.find_sent(claimed.to or "", claimed.body, str(claimed.id), since)
    except ProviderError as err:
        return ProviderError(f"lookup failed: {err.message}", err.code, True, unsure=True)
    except Exception as err:  # a provider that broke its contract: still unknown
        log.exception("notification %s: lookup raised %s", claimed.id, type(err).__name__)
        return ProviderError(
            f"lookup failed: {type(err).__name__}", "unexpected", True, unsure=True
        )
    if found is not None:
        return Found(found)
    return Resent(_call(provider, claimed))


def _call(provider: SmsProvider, claimed: Claimed) -> SendResult | ProviderError:
    meta = {
        "profile": claimed.profile_id,
        "policy": (
            [claimed.policy_id, *(p for _, p in claimed.members)]
            if claimed.members
            else claimed.policy_id
        ),
        "segments": claimed.segments,
        "link": claimed.link,
        "notification": claimed.id,
    }
    try:
        return provider.send_sms(claimed.to or "", claimed.body, str(claimed.id), meta=meta)
    except ProviderError as err:
        return err
    except Exception as err:  # a provider that broke its contract: treat as transient
        log.exception("notification %s: provider raised %s", claimed.id, type(err).__name__)
        return ProviderError(f"{type(err).__name__}: {err}", "unexpected", True)


def _give_back(
    sessions: SessionFactory, rows: list[Claimed], wait: float, reason: str
) -> dict[int, Outcome]:
    def write() -> None:
        now = utcnow()
        with sessions() as session:
            for claimed in rows:
                release(session, claimed, now + dt.timedelta(seconds=wait), reason, now)

    _with_db_retries("give claims back", write)
    return {c.id: Outcome(c.id, SendAction.RELEASED, retry_in=wait, detail=reason) for c in rows}


def _flush(
    sessions: SessionFactory,
    results: list[tuple[Claimed, Result]],
    settings: Settings,
    rng: random.Random | None,
    stash: ReceiptStash | None,
) -> dict[int, Outcome]:
    """Record provider answers in one transaction (retried whole if the database
    hiccups), then apply receipts stashed for the new references."""
    if not results:
        return {}

    def write() -> dict[int, Outcome]:
        now = utcnow()
        out: dict[int, Outcome] = {}
        events: list[dict[str, Any]] = []
        with sessions() as session:
            for claimed, answer in results:
                note: str | None = None
                attempts: int | None = None
                result: SendResult | ProviderError
                if isinstance(answer, Found):
                    result, attempts = answer.result, claimed.attempts
                    note = f"unsure: the provider holds {result.provider_ref}, not sent again"
                elif isinstance(answer, Resent):
                    result, note = answer.result, "unsure: the provider held none, sent again"
                else:
                    result = answer
                if isinstance(result, ProviderError):
                    out[claimed.id] = record_error(session, claimed, result, settings, now, rng)
                    if claimed.members and out[claimed.id].action == SendAction.FAILED:
                        follow(session, claimed.id, [m for m, _ in claimed.members])
                elif record_sent(
                    session, claimed, result, now, events, note=note, attempts=attempts
                ):
                    if claimed.members:
                        events.extend(members_sent(session, claimed, result, now))
                    action = (
                        SendAction.FOUND
                        if isinstance(answer, Found)
                        else SendAction.DELIVERED
                        if result.status in DELIVERED_STATUSES
                        else SendAction.SENT
                    )
                    out[claimed.id] = Outcome(claimed.id, action, provider_ref=result.provider_ref)
                else:
                    log.warning(
                        "notification %s: provider accepted %s after the row was swept",
                        claimed.id,
                        result.provider_ref,
                    )
                    out[claimed.id] = Outcome(
                        claimed.id, SendAction.LATE, provider_ref=result.provider_ref
                    )
            if events:
                insert_feedback(session, events)
        return out

    out: dict[int, Outcome] = _with_db_retries("record provider answers", write)
    refs = [
        o.provider_ref
        for o in out.values()
        if o.action in (SendAction.SENT, SendAction.FOUND) and o.provider_ref
    ]
    found_final = {  # a found message the provider already calls failed
        a.result.provider_ref: [(a.result.status, "")]
        for _, a in results
        if isinstance(a, Found) and a.result.status in FAILED_STATUSES
    }
    if (stash is not None and refs) or found_final:
        try:
            early = stash.pop_many(refs) if stash is not None and refs else {}
            for ref, receipts in found_final.items():
                early.setdefault(ref, []).extend(receipts)
            if early:
                with sessions() as session:
                    for ref, receipts in early.items():
                        for status, code in receipts:
                            apply_receipt(session, ref, status, code)
        except Exception:  # the receipts stay stashed; the rows are sent either way
            log.exception("could not apply early receipts")
    return out


def iter_chunks(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])
