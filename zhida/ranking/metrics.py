"""How well a take-up prediction does on labelled feedback, and whether a model beats the
heuristic.

ROC-AUC (ranking), PR-AUC (average precision: take-up is rare), Brier score
(calibration and sharpness together), a calibration table (ten bins of predicted
take-up: rows, mean predicted, observed rate) and precision at the SMS cap: for each
profile the two notices it ranks highest (the frequency cap's default 2), the share
of them taken up, over the profiles with more than two (where the cap binds).

A model is activated only when, on the same evaluation rows, its ROC-AUC is higher
than the heuristic's with the lower 95% bound of the difference (DeLong's test for
correlated AUCs) above zero, its Brier score is lower, and its precision at the cap
is not lower than the heuristic's by more than 1.96 of the latter's binomial
standard errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

SMS_CAP = 2
Z95 = 1.959963984540054


def precision_at_cap(
    profiles: np.ndarray, score: np.ndarray, y: np.ndarray, k: int = SMS_CAP
) -> float | None:
    """Over the profiles with more than k rows (where the cap binds): the share taken up
    of each one's k highest-scored rows. None when no profile has more than k."""
    found = _at_cap(profiles, score, y, k)
    return found[0] / found[1] if found[1] else None


def _at_cap(profiles: np.ndarray, score: np.ndarray, y: np.ndarray, k: int) -> tuple[float, int]:
    """(taken up, rows) among each capped profile's k highest-scored rows."""
    frame = pl.DataFrame({"p": profiles, "s": score, "y": y.astype(np.float64)})
    top = frame.with_columns(
        pl.col("s").rank("ordinal", descending=True).over("p").alias("r"),
        pl.len().over("p").alias("n"),
    ).filter((pl.col("n") > k) & (pl.col("r") <= k))
    return float(top.get_column("y").sum()), top.height


def calibration_table(score: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(score, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        sel = which == b
        n = int(sel.sum())
        if n:
            out.append(
                {
                    "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                    "rows": n,
                    "predicted": round(float(score[sel].mean()), 4),
                    "observed": round(float(y[sel].mean()), 4),
                }
            )
    return out


def scores(profiles: np.ndarray, score: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    both = len(np.unique(y)) == 2
    return {
        "roc_auc": round(float(roc_auc_score(y, score)), 4) if both else None,
        "pr_auc": round(float(average_precision_score(y, score)), 4) if both else None,
        "brier": round(float(brier_score_loss(y, np.clip(score, 0.0, 1.0))), 4),
        "precision_at_cap": _round(precision_at_cap(profiles, score, y)),
        "capped_rows": _at_cap(profiles, score, y, SMS_CAP)[1],
        "calibration": calibration_table(score, y),
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


@dataclass
class Verdict:
    better: bool
    reasons: list[str]
    auc_gain_low: float | None  # lower 95% bound of model AUC - heuristic AUC


def auc_gain_low(y: np.ndarray, model: np.ndarray, heuristic: np.ndarray) -> float:
    """Lower 95% bound of ROC-AUC(model) - ROC-AUC(heuristic) on the same rows, by
    DeLong's variance of correlated AUCs (the fast algorithm of Sun and Xu, 2014)."""
    from scipy.stats import rankdata

    pos, neg = y.astype(bool), ~y.astype(bool)
    m, n = int(pos.sum()), int(neg.sum())
    if m == 0 or n == 0:
        return float("-inf")
    aucs, v01, v10 = [], [], []
    for s in (model, heuristic):
        tx, ty = rankdata(s[pos]), rankdata(s[neg])
        tz = rankdata(np.concatenate([s[pos], s[neg]]))
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
        v01.append((tz[:m] - tx) / n)
        v10.append(1.0 - (tz[m:] - ty) / m)
    cov = np.cov(np.array(v01)) / m + np.cov(np.array(v10)) / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    return float(aucs[0] - aucs[1] - Z95 * math.sqrt(max(var, 0.0)))


def verdict(
    y: np.ndarray, model: np.ndarray, heuristic: np.ndarray, m: dict[str, Any], h: dict[str, Any]
) -> Verdict:
    reasons = []
    if m["roc_auc"] is None or h["roc_auc"] is None:
        return Verdict(False, ["the evaluation rows hold only one outcome"], None)
    low = auc_gain_low(y, model, heuristic)
    if not low > 0:
        reasons.append(
            f"ROC-AUC {m['roc_auc']} is not surely above the heuristic's {h['roc_auc']} "
            f"(lower 95% bound of the gain {low:+.4f})"
        )
    if not m["brier"] < h["brier"]:
        reasons.append(f"Brier {m['brier']} is not below the heuristic's {h['brier']}")
    pm, ph, n = m["precision_at_cap"], h["precision_at_cap"], h["capped_rows"]
    if pm is not None and ph is not None and pm < ph - Z95 * math.sqrt(ph * (1 - ph) / n):
        reasons.append(
            f"precision at the SMS cap {m['precision_at_cap']} is below the heuristic's "
            f"{h['precision_at_cap']}"
        )
    return Verdict(not reasons, reasons, round(low, 4))
