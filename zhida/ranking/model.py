"""The take-up model: scikit-learn's HistGradientBoostingClassifier over the features of
`zhida.ranking.features`, categorical ones native, calibrated by isotonic regression on
the latest fifth of the training rows (take-up multiplies money, so the probability
must mean what it says). Its trees are stumps, so the model is additive in the
features and scores as one table lookup per feature (`additive`), at batch speed.

Stored with skops, loaded with an explicit list of trusted types (`TRUSTED`): loading
builds only those objects and runs no code from the file; a file that names any other
type is refused. The isotonic calibration is stored as its two threshold arrays and
applied with np.interp (what IsotonicRegression.predict computes with clip).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from zhida.errors import SubjectError, ZhidaError
from zhida.ranking.additive import Additive, compile_stumps
from zhida.ranking.features import CATEGORICAL, FEATURES, Vocab

FORMAT = "zhida-takeup/1"
#: every type a model file may name beyond skops' defaults (numpy, builtins, sklearn
#: estimators): the boosted trees' predictors and the input check they keep
TRUSTED = [
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]
CALIBRATION_SHARE = 0.2
#: the active model (the last `zhida rank train` that beat the heuristic), under var_dir
ACTIVE = Path("models") / "active.skops"


def active_model_path(var_dir: Path) -> Path:
    return var_dir / ACTIVE


@dataclass
class TakeupModel:
    booster: Any  # HistGradientBoostingClassifier of stumps
    iso_x: np.ndarray
    iso_y: np.ndarray
    vocab: Vocab
    report: dict[str, Any] = field(default_factory=dict)
    tables: Additive | None = None  # the booster compiled (additive.py), built on demand

    def raw(self, x: np.ndarray) -> np.ndarray:
        """scikit-learn's uncalibrated probability (training and tests)."""
        with threadpool_limits(1, user_api="openmp"):
            return np.asarray(self.booster.predict_proba(x)[:, 1], dtype=np.float64)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated chance of take-up per feature row, from the compiled tables."""
        if len(x) == 0:
            return np.empty(0)
        if self.tables is None:
            self.tables = compile_stumps(self.booster)
        return np.interp(self.tables.predict(x), self.iso_x, self.iso_y)


def fit(x: np.ndarray, y: np.ndarray, seed: int = 0, max_iter: int = 300) -> TakeupModel:
    """Rows in time order: the booster learns from the first 80%, the calibration from
    the rest. The vocabulary is the caller's (features.learn_vocab)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.isotonic import IsotonicRegression

    y = np.asarray(y, dtype=np.int8)
    cut = int(len(y) * (1 - CALIBRATION_SHARE))
    if len(y) < 50 or len(np.unique(y[:cut])) < 2 or len(np.unique(y[cut:])) < 2:
        raise ZhidaError(
            f"too little feedback to train on: {len(y)} notices, {int(y.sum())} taken up "
            "(both outcomes are needed in the training and the calibration rows)"
        )
    booster = HistGradientBoostingClassifier(
        categorical_features=[name in CATEGORICAL for name in FEATURES],
        max_iter=max_iter,
        learning_rate=0.2,
        max_depth=1,  # stumps: an additive model, compiled to one lookup per feature
        min_samples_leaf=200,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=10,
        random_state=seed,
    )
    x = x.copy()
    x[:, np.isnan(x).all(axis=0)] = 0.0  # a feature no row has (citizens' with enterprises only)
    with threadpool_limits(1, user_api="openmp"):  # the 2 cores are shared (bench/RESULTS.md)
        booster.fit(x[:cut], y[:cut])
        raw = booster.predict_proba(x[cut:])[:, 1]
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y[cut:])
    return TakeupModel(
        booster,
        np.asarray(iso.X_thresholds_, dtype=np.float64),
        np.asarray(iso.y_thresholds_, dtype=np.float64),
        {},
    )


def save(model: TakeupModel, path: Path) -> None:
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(
        {
            "format": FORMAT,
            "features": list(FEATURES),
            "vocab": json.dumps(model.vocab, ensure_ascii=False),
            "report": json.dumps(model.report, ensure_ascii=False),
            "booster": model.booster,
            "iso_x": model.iso_x,
            "iso_y": model.iso_y,
        },
        path,
    )


def load(path: Path) -> TakeupModel:
    """A stored model; a file naming an untrusted type, or not a model, is refused."""
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    if not path.is_file():
        raise SubjectError(f"{path}: no such model file")
    try:
        untrusted = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED))
        if untrusted:
            raise SubjectError(
                f"{path}: refused: the file names types outside the trusted list: "
                + ", ".join(untrusted)
            )
        obj = sio.load(path, trusted=TRUSTED)
    except UntrustedTypesFoundException as err:
        raise SubjectError(f"{path}: refused: {err}") from None
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, json.JSONDecodeError) as err:
        raise SubjectError(f"{path}: not a zhida take-up model ({err})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise SubjectError(f"{path}: not a zhida take-up model (format {FORMAT} expected)")
    if obj.get("features") != list(FEATURES):
        raise SubjectError(f"{path}: the model was trained on other features; train it again")
    return TakeupModel(
        obj["booster"],
        np.asarray(obj["iso_x"], dtype=np.float64),
        np.asarray(obj["iso_y"], dtype=np.float64),
        json.loads(obj["vocab"]),
        json.loads(obj["report"]),
    )
