"""Starting a re-evaluation run after a publish (or an import)."""

from __future__ import annotations

import datetime as dt

from zhida.store.db import session_scope


def start_publish_run(kind: str, version_ids: list[int], as_of: dt.date,
                      trigger: str = "publish") -> int:
    """Save the run and its chunks, then queue the chunk tasks (in-process when eager)."""
    from zhida.matcher.runs import create_run, start_run

    with session_scope() as session:
        run = create_run(session, trigger, kind, version_ids, as_of)
        run_id = run.id
    start_run(run_id)
    return run_id
