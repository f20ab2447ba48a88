"""Differential tests: streamed `zhida evaluate` writes byte for byte what the whole-frame
path before it (old_evaluate.py) wrote, for random policies and profiles and for the
example pack over a synthetic mixed population read from files batch by batch."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ranking import old_evaluate
from tests.support.factories import make_frame, make_policy, schemas_for_tests
from tests.support.runs import pack
from tests.support.strategies import NUM_EXPR, criteria_yaml, examples, profiles
from zhida.profiles.readers import read_profiles, stream_profiles
from zhida.profiles.schema import Audience
from zhida.profiles.synth import synthesize
from zhida.ranking.evaluate import evaluate_batches_to_jsonl

SCHEMAS = schemas_for_tests()
SCHEMA = SCHEMAS["enterprise"]
EXAMPLES = int(os.environ.get("ZHIDA_HYPOTHESIS_EXAMPLES", "0")) or examples(150)


def _split(frame: pl.DataFrame, cuts: list[int]) -> list[dict[Audience, pl.DataFrame]]:
    bounds = sorted({0, frame.height, *(c % (frame.height + 1) for c in cuts)})
    return [{Audience.ENTERPRISE: frame.slice(a, b - a)} for a, b in itertools.pairwise(bounds)]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    policies=st.lists(
        st.tuples(
            criteria_yaml(), st.one_of(st.none(), NUM_EXPR, st.sampled_from(["5000", "2万"]))
        ),
        min_size=1,
        max_size=4,
    ),
    rows=st.lists(profiles(), min_size=1, max_size=14),
    cuts=st.lists(st.integers(0, 14), max_size=3),
    chunk=st.integers(1, 6),
    include_all=st.booleans(),
    explain=st.booleans(),
)
def test_streamed_output_is_byte_identical_on_random_policies(
    policies: list[tuple[str, str | None]],
    rows: list[dict[str, object]],
    cuts: list[int],
    chunk: int,
    include_all: bool,
    explain: bool,
) -> None:
    window = "window: {opens: 2026-01-01, closes: 2026-04-20}\n"
    loaded = [
        make_policy(
            criteria=crit,
            pid=f"p{j}",
            extra=(f"benefit: {{amount: '{bene}'}}\n" if bene else "") + (window if j % 2 else ""),
            schemas=SCHEMAS,
        )
        for j, (crit, bene) in enumerate(policies)
    ]
    for i, r in enumerate(rows):
        r["id"] = f"E{i}"
    frame = make_frame(rows, SCHEMA)
    as_of = dt.date(2026, 4, 1)
    old = old_evaluate.evaluate_to_jsonl(
        loaded, {Audience.ENTERPRISE: frame}, SCHEMAS, as_of, include_all, explain, chunk
    )
    out = io.BytesIO()
    evaluate_batches_to_jsonl(
        loaded, _split(frame, cuts), SCHEMAS, as_of, out, include_all, explain, chunk
    )
    assert out.getvalue() == old


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    policies=st.lists(
        st.tuples(
            criteria_yaml(),
            st.one_of(st.none(), NUM_EXPR, st.sampled_from(["5000", "2万"])),
            st.sets(st.integers(0, 4), max_size=2),
        ),
        min_size=2,
        max_size=5,
    ),
    rows=st.lists(profiles(), min_size=1, max_size=14),
    chunk=st.integers(1, 6),
    include_all=st.booleans(),
)
def test_ranks_with_exclusions_are_those_of_the_whole_frame_path(
    policies: list[tuple[str, str | None, set[int]]],
    rows: list[dict[str, object]],
    chunk: int,
    include_all: bool,
) -> None:
    """Ranks worked out for the printed pairs only, excluding pairs set right, equal the
    (P, n) ranks of the whole-frame path with the same exclusion rule."""
    loaded = [
        make_policy(
            criteria=crit,
            pid=f"p{j}",
            extra=(f"benefit: {{amount: '{bene}'}}\n" if bene else "")
            + (
                f"excludes: [{', '.join(f'p{k}' for k in sorted(others - {j}))}]\n"
                if others - {j}
                else ""
            ),
            schemas=SCHEMAS,
        )
        for j, (crit, bene, others) in enumerate(policies)
    ]
    for i, r in enumerate(rows):
        r["id"] = f"E{i}"
    frame = make_frame(rows, SCHEMA)
    as_of = dt.date(2026, 4, 1)
    frames = {Audience.ENTERPRISE: frame}
    old = old_evaluate.evaluate_to_jsonl(
        loaded, frames, SCHEMAS, as_of, include_all, False, chunk, exclusions=True
    )
    out = io.BytesIO()
    evaluate_batches_to_jsonl(loaded, [frames], SCHEMAS, as_of, out, include_all, False, chunk)
    assert out.getvalue() == old


def _population(tmp_path: Path) -> pl.DataFrame:
    """Enterprises and citizens shuffled together, with bad rows and duplicate ids."""
    loaded = pack()
    ent = synthesize(2500, "enterprise", 5, loaded.schemas).with_columns(kind=pl.lit("enterprise"))
    cit = synthesize(1500, "citizen", 6, loaded.schemas).with_columns(kind=pl.lit("citizen"))
    df = pl.concat([ent, cit], how="diagonal_relaxed").sample(fraction=1.0, shuffle=True, seed=2)
    rng = np.random.default_rng(7)
    ids = df["id"].to_list()
    for i in rng.choice(df.height, 60, replace=False).tolist():
        ids[i] = ids[int(rng.integers(0, df.height))]  # duplicates, far and near
    for i in rng.choice(df.height, 10, replace=False).tolist():
        ids[i] = None
    kinds = df["kind"].to_list()
    for i in rng.choice(df.height, 10, replace=False).tolist():
        kinds[i] = "firm"
    return df.with_columns(pl.Series("id", ids), pl.Series("kind", kinds))


def _as_text(df: pl.DataFrame) -> pl.DataFrame:
    lists = [c for c, t in df.schema.items() if t == pl.List(pl.String)]
    return df.with_columns(
        *(pl.col(c).list.join(";") for c in lists),
        *(pl.col(c).cast(pl.String) for c in df.columns if c not in lists),
    )


@pytest.mark.parametrize("ext", ["parquet", "csv", "jsonl"])
@pytest.mark.parametrize(("include_all", "explain"), [(False, False), (True, False), (False, True)])
def test_streamed_example_pack_is_byte_identical(
    tmp_path: Path, ext: str, include_all: bool, explain: bool
) -> None:
    loaded = pack()
    df = _population(tmp_path)
    if explain:  # the reference interpreter per line: slow
        df = df.head(600)
    path = tmp_path / f"p.{ext}"
    if ext == "parquet":
        df.write_parquet(path, row_group_size=97)
    elif ext == "csv":
        text = _as_text(df).write_csv()
        lines = text.split("\n")
        lines[5] = lines[5] + "\n"  # a blank line
        path.write_text("\ufeff" + "\n".join(lines), encoding="utf-8")
    else:
        df.write_ndjson(path)
    as_of = dt.date(2026, 4, 1)
    whole = read_profiles(path, loaded.schemas)
    old = old_evaluate.evaluate_to_jsonl(
        loaded.policies, whole.frames, loaded.schemas, as_of, include_all, explain
    )
    batches = list(stream_profiles(path, loaded.schemas, batch_rows=150, batch_bytes=20_000))
    assert len(batches) >= 3
    assert [e for b in batches for e in b.errors] == whole.errors
    assert [w for b in batches for w in b.warnings] == whole.warnings
    assert sum(b.rows_read for b in batches) == whole.rows_read
    out = io.BytesIO()
    stats = evaluate_batches_to_jsonl(
        loaded.policies,
        (b.frames for b in batches),
        loaded.schemas,
        as_of,
        out,
        include_all,
        explain,
        chunk_size=256,
    )
    assert out.getvalue() == old
    assert stats.profiles == whole.rows_ok and stats.lines == old.count(b"\n")
