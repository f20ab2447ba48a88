"""The boosted stumps of a take-up model, compiled to one lookup table per feature.

Every tree of the booster has depth one (a stump: one split on one feature), so the
raw score is a sum of per-feature step functions: baseline + sum over features f of
g_f(x_f). For a numeric feature g_f is piecewise constant between the sorted split
thresholds (x <= t goes left, as scikit-learn's predictor does); for a categorical one
it is a table over the category codes (a code in the split's bitset goes left, others
right); a missing value (NaN) goes where each split sends missing values. Scoring m
rows is then one `searchsorted` or one gather per feature: no tree walk. The tables
are plain numpy arrays built from the trees' node arrays when the model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CODES = 256  # categorical codes a split's bitset can name (8 x 32 bits)


@dataclass
class Step:
    """g_f: `values[searchsorted(thresholds, x)]` (numeric) or `values[code]` (categorical);
    `missing` for NaN."""

    categorical: bool
    thresholds: np.ndarray
    values: np.ndarray
    missing: float


@dataclass
class Additive:
    baseline: float
    steps: dict[int, Step]  # feature index -> its step function

    def raw(self, x: np.ndarray) -> np.ndarray:
        out = np.full(len(x), self.baseline, dtype=np.float64)
        for f, step in self.steps.items():
            col = x[:, f]
            nan = np.isnan(col)
            if step.categorical:
                outside = nan | (col < 0) | (col >= CODES)
                part = step.values[np.where(outside, CODES, col).astype(np.intp)]
            else:
                part = step.values[np.searchsorted(step.thresholds, col, side="left")]
            out += np.where(nan, step.missing, part)
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.raw(x)))


def _bits(bitset: np.ndarray) -> np.ndarray:
    """(CODES,) bool: which codes the 8 uint32 words of a bitset hold."""
    words = np.asarray(bitset, dtype=np.uint32)
    return (
        (words[np.arange(CODES) // 32] >> (np.arange(CODES) % 32).astype(np.uint32)) & 1
    ).astype(bool)


def compile_stumps(booster: Any) -> Additive:
    """The booster's trees as per-feature tables; ValueError if a tree is deeper than one.

    scikit-learn ordinal-encodes the categorical columns first (the categories seen in
    training, in order; any other value is missing) and puts them before the numeric
    ones: a tree's feature index and a bitset refer to that encoded input."""
    mask = np.asarray(booster.is_categorical_, dtype=bool)
    original = np.concatenate([np.nonzero(mask)[0], np.nonzero(~mask)[0]])
    seen = (
        list(booster._preprocessor.named_transformers_["encoder"].categories_) if mask.any() else []
    )
    baseline = float(np.asarray(booster._baseline_prediction).ravel()[0])
    numeric: dict[int, list[tuple[float, float, float, bool]]] = {}
    categorical: dict[int, list[tuple[np.ndarray, float, float, bool]]] = {}
    for (predictor,) in booster._predictors:
        nodes = predictor.nodes
        root = nodes[0]
        if root["is_leaf"]:
            baseline += float(root["value"])
            continue
        left, right = nodes[root["left"]], nodes[root["right"]]
        if not (left["is_leaf"] and right["is_leaf"]):
            raise ValueError("the take-up model's trees must be stumps (max_depth=1)")
        f, vl, vr = int(root["feature_idx"]), float(left["value"]), float(right["value"])
        miss_left = bool(root["missing_go_to_left"])
        if root["is_categorical"]:
            bits = _bits(predictor.raw_left_cat_bitsets[root["bitset_idx"]])
            categorical.setdefault(f, []).append((bits, vl, vr, miss_left))
        else:
            numeric.setdefault(f, []).append((float(root["num_threshold"]), vl, vr, miss_left))
    steps: dict[int, Step] = {}
    for f, splits in numeric.items():
        splits.sort(key=lambda s: s[0])
        t = np.array([s[0] for s in splits])
        lefts = np.array([s[1] for s in splits])
        rights = np.array([s[2] for s in splits])
        # k thresholds below x go right, the rest left: values[k] for k = 0..len(t)
        right_below = np.concatenate([[0.0], np.cumsum(rights)])
        left_above = np.concatenate([np.cumsum(lefts[::-1])[::-1], [0.0]])
        missing = sum(s[1] if s[3] else s[2] for s in splits)
        steps[int(original[f])] = Step(False, t, right_below + left_above, float(missing))
    for f, csplits in categorical.items():
        missing = sum(s[1] if s[3] else s[2] for s in csplits)
        index = np.full(CODES + 1, -1, dtype=np.intp)  # raw code -> encoded, -1 unseen
        for i, category in enumerate(np.asarray(seen[f], dtype=np.float64)):
            if 0 <= category < CODES and category == int(category):
                index[int(category)] = i
        values = np.full(CODES + 1, float(missing))  # unseen, or outside 0..255: missing
        known = index >= 0
        total = np.zeros(int(known.sum()))
        for bits, vl, vr, _ in csplits:
            total += np.where(bits[index[known]], vl, vr)
        values[known] = total
        steps[int(original[f])] = Step(True, np.empty(0), values, float(missing))
    return Additive(baseline, steps)
