"""Sending a batch of SMS rows: claim them, wait for the rate, call the provider with no
session open, record what it said (the steps of `zhida.channels.delivery.steps`)."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError

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
from zhida.channels.sms.base import DELIVERED_STATUSES, ProviderError, SendResult, SmsProvider
from zhida.clock import utcnow
from zhida.settings import Settings

log = logging.getLogger("zhida.sms")

#: attempts to write a result when the database hiccups after the provider accepted
RECORD_TRIES = 5
#: a batch records what the provider said at least this often (seconds)
FLUSH_EVERY = 0.5


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
                outcomes[claimed.id] = Outcome(claimed.id, SendAction.SKIPPED, detail=reason)
            else:
                ready.append(claimed)
        ready, checked = check_and_compose(session, ready, now, settings)
        outcomes.update(checked)
    claimed_ids = {c.id for c in ready}
    for nid in ids:
        if nid not in outcomes and nid not in claimed_ids:
            outcomes[nid] = Outcome(nid, SendAction.NOT_CLAIMED)

    results: list[tuple[Claimed, SendResult | ProviderError]] = []
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
        results.append((claimed, _call(provider, claimed)))
        if time.monotonic() - last_flush >= flush_every:
            outcomes.update(_flush(sessions, results, settings, rng, stash))
            results, last_flush = [], time.monotonic()
    outcomes.update(_flush(sessions, results, settings, rng, stash))
    return [outcomes[nid] for nid in ids]


def _call(provider: SmsProvider, claimed: Claimed) -> SendResult | ProviderError:
    meta = {
        "profile": claimed.profile_id,
        "policy": claimed.policy_id,
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
    results: list[tuple[Claimed, SendResult | ProviderError]],
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
            for claimed, result in results:
                if isinstance(result, ProviderError):
                    out[claimed.id] = record_error(session, claimed, result, settings, now, rng)
                elif record_sent(session, claimed, result, now, events):
                    action = (
                        SendAction.DELIVERED
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
    refs = [o.provider_ref for o in out.values() if o.action == SendAction.SENT and o.provider_ref]
    if stash is not None and refs:
        try:
            early = stash.pop_many(refs)
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
