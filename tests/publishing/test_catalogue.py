"""The catalogue: a stored version compiled once, never served stale, safe across threads."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from zhida.errors import PolicyError
from zhida.profiles.schema import FieldType
from zhida.publishing import catalogue as catalogue_module
from zhida.publishing.catalogue import Catalogue, compiled_by_id
from zhida.publishing.officers import add_officer
from zhida.publishing.versions import submit
from zhida.rules.loader import load_policy_text
from zhida.store.db import session_scope
from zhida.store.models import PolicyVersion

POLICY = """id: big
title: 营收过亿企业奖励
audience: enterprise
criteria:
  - {id: rev, label: 营业收入达标, when: revenue >= THRESHOLD}
"""
SCHEMA = "enterprise:\n  tech_staff: {type: int, label: 科技人员数}\n"


def row(
    version_id: int = 1, version: int = 1, threshold: str = "1亿", schema_yaml: str = ""
) -> PolicyVersion:
    """A stored version as the catalogue sees it (not added to any session)."""
    return PolicyVersion(
        id=version_id,
        policy_id="big",
        version=version,
        status="published",
        audience="enterprise",
        title="营收过亿企业奖励",
        yaml_text=POLICY.replace("THRESHOLD", threshold),
        schema_yaml=schema_yaml,
        sha256="not-read",
        author_id=1,
    )


@pytest.fixture()
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The labels the catalogue compiles, in order."""
    seen: list[str] = []

    def counting(text: str, path: str, schemas: Any) -> Any:
        seen.append(path)
        return load_policy_text(text, path, schemas)

    monkeypatch.setattr(catalogue_module, "load_policy_text", counting)
    return seen


def test_a_second_lookup_returns_the_same_object(compiles: list[str]) -> None:
    catalogue = Catalogue()
    first = catalogue.compiled(row())
    again = catalogue.compiled(row())  # another row object with the same content
    assert again is first
    assert compiles == ["big@v1"]
    assert first.policy.path == "big@v1" and first.version_id == 1


def test_two_versions_of_one_policy_are_two_policies(compiles: list[str]) -> None:
    catalogue = Catalogue()
    v1 = catalogue.compiled(row(1, 1, "1亿"))
    v2 = catalogue.compiled(row(2, 2, "5000万"))
    assert v1.policy is not v2.policy
    assert (v1.policy.path, v2.policy.path) == ("big@v1", "big@v2")
    assert v1.policy.text != v2.policy.text
    assert catalogue.compiled(row(1, 1, "1亿")) is v1
    assert compiles == ["big@v1", "big@v2"]


def test_a_changed_row_is_compiled_again(compiles: list[str]) -> None:
    catalogue = Catalogue()
    stored = row()
    before = catalogue.compiled(stored)
    stored.yaml_text = stored.yaml_text.replace("1亿", "2亿")  # edited in place, same id
    after = catalogue.compiled(stored)
    assert after is not before and "2亿" in after.policy.text
    stored.schema_yaml = SCHEMA  # the pack's schema changes too
    assert "tech_staff" in catalogue.compiled(stored).schema.fields
    assert compiles == ["big@v1"] * 3


def test_concurrent_lookups_compile_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def slow(text: str, path: str, schemas: Any) -> Any:
        calls.append(path)
        time.sleep(0.2)  # every other thread arrives while this one compiles
        return load_policy_text(text, path, schemas)

    monkeypatch.setattr(catalogue_module, "load_policy_text", slow)
    catalogue = Catalogue()
    start = threading.Barrier(8)
    found: list[object] = []

    def look_up() -> None:
        start.wait()
        found.append(catalogue.compiled(row()))

    threads = [threading.Thread(target=look_up) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["big@v1"]
    assert len(found) == 8 and all(f is found[0] for f in found)


def test_the_cache_is_bounded_least_recently_used_out(compiles: list[str]) -> None:
    catalogue = Catalogue(capacity=2)
    one = catalogue.compiled(row(1, 1, "1亿"))
    catalogue.compiled(row(2, 2, "2亿"))
    assert catalogue.compiled(row(1, 1, "1亿")) is one  # now the most recently used
    catalogue.compiled(row(3, 3, "3亿"))  # pushes out version 2
    assert len(catalogue) == 2
    assert catalogue.compiled(row(1, 1, "1亿")) is one
    catalogue.compiled(row(2, 2, "2亿"))
    assert compiles == ["big@v1", "big@v2", "big@v3", "big@v2"]


def test_a_version_that_does_not_compile_is_not_cached() -> None:
    catalogue = Catalogue()
    broken = row(threshold="一亿")
    for _ in range(2):
        with pytest.raises(PolicyError):
            catalogue.compiled(broken)
    assert len(catalogue) == 0


def test_the_pack_schema_comes_with_the_policy() -> None:
    found = Catalogue().compiled(row(schema_yaml=SCHEMA))
    assert found.schema.fields["tech_staff"].type is FieldType.INT
    assert found.schema.audience == found.policy.audience
    assert set(found.extension) == {found.policy.audience}
    assert "tech_staff" not in Catalogue().compiled(row()).schema.fields


def test_versions_by_id_from_the_store(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as s:
        admin, _ = add_officer(s, "root", "admin")
        ids = [
            submit(s, admin, POLICY.replace("THRESHOLD", t), "big.yaml").id for t in ("1亿", "2亿")
        ]
    with session_scope(sqlite_url) as s:
        found = compiled_by_id(s, [*ids, 999])
        assert sorted(found) == ids  # a missing id is left out
        assert [found[i].policy.path for i in ids] == ["big@v1", "big@v2"]
        assert compiled_by_id(s, []) == {}
