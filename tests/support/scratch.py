"""Throw-away PostgreSQL databases for tests and benchmarks: created, optionally
migrated, dropped on exit (WITH (FORCE): open connections do not keep it).

Migrating takes about a second; copying a migrated template (`CREATE DATABASE x
TEMPLATE t`) a fraction of that. `migrated_template(admin_url)` migrates one template
per process (so each pytest-xdist worker has its own: PostgreSQL refuses to copy a
database while anyone else is connected to it) and `drop_templates()` drops them.
Dropping a database takes the server a second or more when the machine is busy (it
removes and syncs files), so tests may leave it to a background thread
(`drop_in_background=True`), which `drop_templates()` waits for.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

_TEMPLATES: dict[str, str] = {}  # admin URL -> this process's migrated template


def sibling_url(admin_url: str, name: str) -> str:
    """The URL of database `name` on the server of `admin_url`."""
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _admin(admin_url: str, sql: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(sql))
    finally:
        admin.dispose()


def migrated_template(admin_url: str) -> str:
    """The name of this process's migrated template database, created on first use.
    No connection to it stays open (every engine is disposed), so it can be copied."""
    from zhida.store.db import dispose_engines, upgrade

    if admin_url not in _TEMPLATES:
        name = f"zhida_tmpl_{uuid.uuid4().hex[:12]}"
        _admin(admin_url, f'CREATE DATABASE "{name}"')
        try:
            upgrade(sibling_url(admin_url, name))
        except BaseException:
            dispose_engines()
            _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            raise
        dispose_engines()
        _TEMPLATES[admin_url] = name
    return _TEMPLATES[admin_url]


class _Dropper:
    """One daemon thread dropping databases in the order they were handed over."""

    def __init__(self) -> None:
        self.todo: queue.Queue[tuple[str, str]] = queue.Queue()
        self.errors: list[BaseException] = []
        self.thread: threading.Thread | None = None

    def drop(self, admin_url: str, name: str) -> None:
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(
                target=self._work, daemon=True, name="scratch-database-dropper"
            )
            self.thread.start()
        self.todo.put((admin_url, name))

    def wait(self) -> None:
        """Block until every database handed over is dropped; raise the first failure."""
        self.todo.join()
        if self.errors:
            raise self.errors[0]

    def _work(self) -> None:
        while True:
            admin_url, name = self.todo.get()
            try:
                _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as err:  # reported by wait(), at the end of the session
                self.errors.append(err)
            finally:
                self.todo.task_done()


_DROPPER = _Dropper()


def drop_templates() -> None:
    """Wait for the background drops, then drop the templates this process made (at the
    end of a test session)."""
    _DROPPER.wait()
    while _TEMPLATES:
        admin_url, name = _TEMPLATES.popitem()
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database(
    admin_url: str,
    prefix: str = "zhida_t",
    *,
    migrate: bool = True,
    keep: bool = False,
    template: str | None = None,
    drop_in_background: bool = False,
) -> Iterator[str]:
    """A new database named `{prefix}_{random}`; its URL. A copy of `template` when given
    (already migrated), else migrated here unless `migrate=False`.
    Dropped on exit unless `keep` (by the background thread if `drop_in_background`);
    the process's engines are disposed first."""
    from zhida.store.db import dispose_engines, upgrade

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        url = sibling_url(admin_url, name)
        try:
            if migrate and not template:
                upgrade(url)
            yield url
        finally:
            dispose_engines()
            if drop_in_background and not keep:
                _DROPPER.drop(admin_url, name)
            elif not keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def empty_tables(url: str) -> None:
    """Empty every table of the models and restart every sequence: the state of a freshly
    migrated PostgreSQL database (the migrations add no rows). DELETE, not TRUNCATE: on
    the few rows a test writes it is ten times faster (TRUNCATE makes new files)."""
    from zhida.store.db import get_engine
    from zhida.store.models import Base

    with get_engine(url).begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        for name in conn.execute(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
        ).scalars():
            conn.execute(text(f'ALTER SEQUENCE "{name}" RESTART'))


def clear_sms_tables(url: str) -> None:
    """Empty what the SMS tests write (notifications, opt-outs, inbound messages, feedback
    events), keeping what their module set up once."""
    from zhida.store.db import get_engine

    with get_engine(url).begin() as conn:
        conn.execute(
            text(
                "TRUNCATE notifications, opt_outs, inbound_messages, feedback_events "
                "RESTART IDENTITY"
            )
        )
