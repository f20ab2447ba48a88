"""The catalogue: a stored policy version -> its checked Policy, compiled once per process.

Everything that evaluates a stored version (a run's chunks, the daily selection, the
notification planner, the application form, the live path, `zhida approve`) asks
here. A version is compiled from its `yaml_text` with the built-in profile fields
plus its pack's `schema_yaml`, under the label `POLICY@vN` (what error messages and
explanations name).

The cache is keyed by the version's id, label and `content_sha256` of its text and
schema, computed here rather than read from the row's `sha256` column (a row edited
in place, or written by a benchmark with a made-up hash, would otherwise be served
stale). It holds at most `CAPACITY` versions, least recently used out first, and is
shared by the API's and the workers' threads: lookups are serialised by a lock, and
concurrent lookups of one uncached version compile it once (the others wait for it).
A version that does not compile raises, and nothing is cached.

What the catalogue returns is shared: callers must not mutate it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.profiles.schema import Audience, Field, ProfileSchema, SchemaSet
from zhida.profiles.schema_file import parse_schema_extension
from zhida.rules.loader import load_policy_text
from zhida.rules.policy import Policy
from zhida.store.models import PolicyVersion

CAPACITY = 512  # versions; a province publishes a few hundred policies at most

Key = tuple[int, str, int, str]  # (version id, policy id, version number, content hash)


@dataclass(frozen=True)
class CompiledVersion:
    """A stored version, compiled: its Policy and the profile fields it was checked with."""

    version_id: int
    policy: Policy
    schemas: SchemaSet  # the built-in fields plus the pack's, per audience
    extension: dict[Audience, dict[str, Field]]  # the pack's fields alone

    @property
    def schema(self) -> ProfileSchema:
        """The profile schema of the policy's audience."""
        return self.schemas[self.policy.audience]


def content_sha256(yaml_text: str, schema_yaml: str) -> str:
    """The hash of what a version is compiled from (also what `submit` stores)."""
    return hashlib.sha256((yaml_text + "\0" + schema_yaml).encode()).hexdigest()


def schema_extension(schema_yaml: str) -> dict[Audience, dict[str, Field]]:
    """The fields a pack's `schema.yaml` text adds ({} for an empty one)."""
    return parse_schema_extension(schema_yaml) if schema_yaml.strip() else {}


def schemas_from(schema_yaml: str) -> SchemaSet:
    """The built-in profile fields plus those of a pack's `schema.yaml` text."""
    return SchemaSet.builtin().extended(schema_extension(schema_yaml))


def compile_version(version: PolicyVersion) -> CompiledVersion:
    """Compile a stored version, uncached (the catalogue calls this once per version)."""
    extension = schema_extension(version.schema_yaml)
    schemas = SchemaSet.builtin().extended(extension)
    policy = load_policy_text(version.yaml_text, f"{version.policy_id}@v{version.version}", schemas)
    return CompiledVersion(version.id, policy, schemas, extension)


class Catalogue:
    """A bounded, thread-safe cache of compiled versions (see the module docstring)."""

    def __init__(self, capacity: int = CAPACITY):
        self.capacity = max(1, capacity)
        self._entries: OrderedDict[Key, CompiledVersion] = OrderedDict()
        self._lock = threading.Lock()  # guards _entries and _compiling
        self._compiling: dict[Key, threading.Lock] = {}  # one lock per version being compiled

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _cached(self, key: Key) -> CompiledVersion | None:
        """The entry (now the most recently used), or None; the caller holds _lock."""
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def compiled(self, version: PolicyVersion) -> CompiledVersion:
        """The compiled version, from the cache or compiled now (once, whatever the threads)."""
        key = (
            version.id,
            version.policy_id,
            version.version,
            content_sha256(version.yaml_text, version.schema_yaml),
        )
        with self._lock:
            found = self._cached(key)
            if found is not None:
                return found
            compiling = self._compiling.setdefault(key, threading.Lock())
        with compiling:  # a second thread looking the version up waits here
            with self._lock:
                found = self._cached(key)
            if found is not None:
                return found
            try:
                found = compile_version(version)
                with self._lock:
                    self._entries[key] = found
                    while len(self._entries) > self.capacity:
                        self._entries.popitem(last=False)
            finally:
                with self._lock:
                    if self._compiling.get(key) is compiling:
                        del self._compiling[key]
        return found

    def compiled_by_id(
        self, session: Session, version_ids: Iterable[int]
    ) -> dict[int, CompiledVersion]:
        """Version id -> compiled version, for the ids that exist (one query)."""
        ids = sorted({int(i) for i in version_ids})
        if not ids:
            return {}
        rows = session.scalars(select(PolicyVersion).where(PolicyVersion.id.in_(ids)))
        return {row.id: self.compiled(row) for row in rows}


CATALOGUE = Catalogue()  # the process's catalogue


def compiled(version: PolicyVersion) -> CompiledVersion:
    """The compiled version, from the process's catalogue."""
    return CATALOGUE.compiled(version)


def compiled_by_id(session: Session, version_ids: Iterable[int]) -> dict[int, CompiledVersion]:
    """Version id -> compiled version for the ids that exist, from the process's catalogue."""
    return CATALOGUE.compiled_by_id(session, version_ids)
