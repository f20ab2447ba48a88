"""The grammar loaded from lark's cache parses as the grammar built from scratch."""

from __future__ import annotations

from pathlib import Path

import pytest

from zhida.rules.parser import build_parser, grammar_cache

EXPRESSIONS = [
    "employees >= 10 and revenue < 5000万",
    "region in ['330106', '330108'] or not high_tech",
    "years_since(established) between 1 and 5",
    "(rd_expense / revenue) * 100 >= 3%",
]


def test_a_cached_grammar_parses_as_a_fresh_one(tmp_path: Path) -> None:
    fresh = build_parser(False)
    cache = str(tmp_path / "grammar.lark-cache")
    build_parser(cache)  # writes the cache
    assert Path(cache).stat().st_size > 0
    cached = build_parser(cache)  # reads it
    for text in EXPRESSIONS:
        assert cached.parse(text) == fresh.parse(text)


def test_the_cache_lives_in_the_users_cache_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    where = grammar_cache()
    assert isinstance(where, str)
    assert Path(where).parent == tmp_path / "zhida"


def test_no_writable_cache_directory_means_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert grammar_cache() is False
