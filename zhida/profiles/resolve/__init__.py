"""Entity resolution for imported profiles: which stored profile is this row?"""

from zhida.profiles.resolve.matching import (
    MAX_BLOCK,
    MERGE_SCORE,
    PLACE_NAMES,
    RESOLUTION_SCHEMA,
    REVIEW_SCORE,
    Action,
    FrameStore,
    StoreView,
    core_name,
    core_names,
    key_field,
    name_score,
    normalize_name,
    normalize_names,
    resolve,
)

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
