"""Entity resolution for imported profiles: which stored profile is this row?

Pure logic over polars frames; the store is reached only through `StoreView`.
Public API: `resolve` (one decision per incoming row, `RESOLUTION_SCHEMA`,
`Action`), `StoreView` and `FrameStore`, `key_field`, the name normalisation
(`normalize_name(s)`, `core_name(s)`, `name_score`, `PLACE_NAMES`) and the
thresholds `MERGE_SCORE`, `REVIEW_SCORE`, `MAX_BLOCK`.

Modules: `matching` (the rule, in order; its docstring states it), `names`
(normalisation), `by_name` (rule 5: blocking and fuzzy scores), `store`,
`decisions` (the action and the frame of decisions).
"""

from zhida.profiles.resolve.by_name import MAX_BLOCK, MERGE_SCORE, REVIEW_SCORE
from zhida.profiles.resolve.decisions import RESOLUTION_SCHEMA, Action
from zhida.profiles.resolve.matching import resolve
from zhida.profiles.resolve.names import (
    PLACE_NAMES,
    core_name,
    core_names,
    name_score,
    normalize_name,
    normalize_names,
)
from zhida.profiles.resolve.store import FrameStore, StoreView, key_field

__all__ = [
    "MAX_BLOCK",
    "MERGE_SCORE",
    "PLACE_NAMES",
    "RESOLUTION_SCHEMA",
    "REVIEW_SCORE",
    "Action",
    "FrameStore",
    "StoreView",
    "core_name",
    "core_names",
    "key_field",
    "name_score",
    "normalize_name",
    "normalize_names",
    "resolve",
]
