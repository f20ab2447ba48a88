"""`/api/officer/runs`: runs and their progress, as JSON and as Server-Sent Events.

`GET /api/officer/runs/{run}/events` sends `event: progress` with the run's JSON
whenever it changed (read every `RUN_STREAM.poll_seconds`), a heartbeat comment
otherwise, and ends after the run is done or failed (`event: end`) or after
`RUN_STREAM.lifetime_seconds` (EventSource then reconnects).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from zhida.api.deps import SessionDep
from zhida.api.officer_auth import CurrentOfficer
from zhida.api.routes.officer_models import RunOut
from zhida.runs.listing import list_runs, summary_line
from zhida.runs.reevaluate import get_run, partial_counts

router = APIRouter(prefix="/api/officer", tags=["officer"])
FINAL = ("done", "failed")


@dataclass
class RunStreamConfig:
    poll_seconds: float = 0.5
    heartbeat_seconds: float = 15.0
    lifetime_seconds: float = 300.0


RUN_STREAM = RunStreamConfig()


def run_json(session: Session, run_id: int) -> dict[str, Any]:
    """A run with its counts so far (the chunks done) while it is not done."""
    run = get_run(session, run_id)
    line = summary_line(run)
    if run.status != "done":
        line["counts"] = partial_counts(session, run_id)
    return line


@router.get("/runs", response_model=list[RunOut])
def runs(
    officer: CurrentOfficer,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[RunOut]:
    return [RunOut.model_validate(run_json(session, r.id)) for r in list_runs(session, limit)]


@router.get("/runs/{run_id}", response_model=RunOut)
def run(run_id: int, officer: CurrentOfficer, session: SessionDep) -> RunOut:
    """{"status", "chunks_done", "chunks_total", "counts"} and the rest of the run."""
    return RunOut.model_validate(run_json(session, run_id))


def _read(engine: Engine, run_id: int) -> dict[str, Any]:
    with Session(engine) as session:
        return run_json(session, run_id)


async def _progress(request: Request, engine: Engine, first: dict[str, Any]) -> AsyncIterator[str]:
    config = RUN_STREAM
    yield "retry: 2000\n\n"
    last: dict[str, Any] | None = None
    current = first
    started = last_beat = time.monotonic()
    while True:
        if current != last:
            yield f"event: progress\ndata: {json.dumps(current, ensure_ascii=False)}\n\n"
            last = current
            last_beat = time.monotonic()
        if current["status"] in FINAL:
            yield f"event: end\ndata: {json.dumps({'status': current['status']})}\n\n"
            return
        if time.monotonic() - started > config.lifetime_seconds or await request.is_disconnected():
            return
        if time.monotonic() - last_beat >= config.heartbeat_seconds:
            yield ": heartbeat\n\n"
            last_beat = time.monotonic()
        await asyncio.sleep(config.poll_seconds)
        current = await run_in_threadpool(_read, engine, current["id"])


@router.get("/runs/{run_id}/events")
async def run_events(
    request: Request, run_id: int, officer: CurrentOfficer, session: SessionDep
) -> StreamingResponse:
    """Server-Sent Events: the run's progress until it is done."""
    first = await run_in_threadpool(run_json, session, run_id)  # 404 before the stream
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    session.close()  # the stream opens a short session per read
    return StreamingResponse(
        _progress(request, engine, first),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
