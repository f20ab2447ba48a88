"""Fresh results as frames: the one shape in which the batch path (a chunk's matrices)
and the real-time path (one profile's results) hand their results to
`zhida.runs.decisions` to be compared with what is stored."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from zhida.matcher.masks import code_groups

SCORE_DIGITS = 6

# one (profile, policy) result, as given to / compared by this module
KEYS = ["profile_id", "policy_id"]
RESULT_SCHEMA: dict[str, Any] = {
    "profile_id": pl.String,
    "policy_id": pl.String,
    "policy_version_id": pl.Int64,
    "outcome": pl.Int8,
    "failed": pl.String,  # canonical JSON text of a list of criterion ids
    "unknown": pl.String,
    "benefit": pl.Float64,
    "score": pl.Float64,
}
TRANSITION_SCHEMA: dict[str, Any] = {
    "profile_id": pl.String,
    "policy_id": pl.String,
    "policy_version_id": pl.Int64,
    "from_outcome": pl.Int8,
    "to_outcome": pl.Int8,
}

# (policy_id, policy_version_id, outcome, failed, unknown, benefit, score)
ProfileResult = tuple[str, int, int, Sequence[str], Sequence[str], float | None, float]


def canonical_ids(ids: Sequence[str]) -> str:
    """A list of criterion ids as the JSON text both databases print (`["a", "b"]`)."""
    return json.dumps(list(ids), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """Stored failed/unknown ids (JSON text, a list, or null) as canonical JSON text."""
    if value is None:
        return "[]"
    if isinstance(value, str):
        value = json.loads(value)
    return canonical_ids(value)


def empty_results() -> pl.DataFrame:
    return pl.DataFrame(schema=RESULT_SCHEMA)


# --------------------------------------------------------------------------- results


def results_frame(
    profile_ids: pl.Series,
    versions: Sequence[tuple[str, int, list[str]]],
    outcome: np.ndarray,
    criteria: Sequence[np.ndarray],
    benefit: Sequence[np.ndarray],
    scores: np.ndarray,
) -> pl.DataFrame:
    """The eligible/unknown results of a vectorised evaluation as RESULT_SCHEMA rows.

    versions[j] = (policy_id, policy_version_id, top-level criterion ids) of row j of
    the policy-major arrays (as `BatchEvaluator` returns them); profile_ids is the
    column of the frame that was evaluated.
    """
    n = len(profile_ids)
    parts: list[pl.DataFrame] = []
    for j, (policy_id, version_id, crit_ids) in enumerate(versions):
        keep = outcome[j] > 0
        m = int(keep.sum())
        if m == 0:
            continue
        codes = criteria[j][:, keep]
        # few distinct sets of unknown criteria: their JSON text once each (masks.code_groups)
        group, groups = code_groups(codes, 1)
        texts = np.array([canonical_ids([crit_ids[i] for i in g]) for g in groups], dtype=object)
        unknown = pl.Series("unknown", texts[group], dtype=pl.String)
        bene = np.broadcast_to(benefit[j], (n,))[keep]
        parts.append(
            pl.DataFrame(
                {
                    "profile_id": profile_ids.filter(pl.Series(keep)),
                    "policy_id": pl.Series([policy_id], dtype=pl.String).extend_constant(
                        policy_id, m - 1
                    ),
                    "policy_version_id": np.full(m, version_id, dtype=np.int64),
                    "outcome": outcome[j, keep].astype(np.int8),
                    "failed": pl.Series(["[]"], dtype=pl.String).extend_constant("[]", m - 1),
                    "unknown": unknown,
                    "benefit": pl.Series(bene, dtype=pl.Float64).fill_nan(None),
                    "score": np.round(scores[j, keep], SCORE_DIGITS),
                },
                schema=RESULT_SCHEMA,
            )
        )
    if not parts:
        return empty_results()
    return pl.concat(parts, how="vertical")


def profile_results_frame(profile_id: str, results: Sequence[ProfileResult]) -> pl.DataFrame:
    """RESULT_SCHEMA rows for one profile's eligible/unknown results."""
    rows = [
        {
            "profile_id": profile_id,
            "policy_id": pid,
            "policy_version_id": int(vid),
            "outcome": int(out),
            "failed": canonical_ids(failed),
            "unknown": canonical_ids(unknown),
            "benefit": None if bene is None or bene != bene else float(bene),
            "score": round(float(score), SCORE_DIGITS),
        }
        for pid, vid, out, failed, unknown, bene, score in results
        if int(out) > 0
    ]
    return pl.DataFrame(rows, schema=RESULT_SCHEMA) if rows else empty_results()
