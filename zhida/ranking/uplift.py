"""Uplift of an SMS over the in-app message alone, where the SMS cap binds.

A two-model learner (T-learner): one take-up model (`model.fit`) on the notices sent
by SMS, one on those sent in-app only, both on the same training rows of
`train.split`; the uplift of a notice is the first's chance minus the second's. On
held-out notices whose channel was assigned at random (the simulator's, or a
randomised send), it is reported as the Qini coefficient and uplift@k: among the k
share of rows with the highest predicted uplift, SMS take-up minus in-app take-up.
`zhida rank uplift --store` stores the two models and activates them when
`beats_takeup`; where the SMS cap binds, the planner then gives the SMS to the
candidates of highest predicted uplift (`zhida.channels.plan_uplift`).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zhida.errors import ZhidaError
from zhida.ranking.features import Vocab
from zhida.ranking.model import TakeupModel, fit, load, save
from zhida.ranking.train import Prepared, split, vocab_of

SHARES = (0.1, 0.2, 0.3, 0.5)


def uplift_at(y: np.ndarray, treated: np.ndarray, score: np.ndarray, share: float) -> float | None:
    """SMS take-up minus in-app take-up among the `share` of rows scored highest."""
    top = np.argsort(-score, kind="stable")[: max(1, round(share * len(y)))]
    t, c = treated[top], ~treated[top]
    if not t.any() or not c.any():
        return None
    return float(y[top][t].mean() - y[top][c].mean())


def qini(y: np.ndarray, treated: np.ndarray, score: np.ndarray) -> float:
    """Area between the Qini curve and the straight line of random targeting, per row
    (positive: the score finds those an SMS moves)."""
    order = np.argsort(-score, kind="stable")
    yt = np.cumsum(y[order] * treated[order])
    yc = np.cumsum(y[order] * ~treated[order])
    nt = np.cumsum(treated[order])
    nc = np.cumsum(~treated[order])
    curve = yt - yc * np.divide(nt, nc, out=np.zeros(len(y)), where=nc > 0)
    line = curve[-1] * np.arange(1, len(y) + 1) / len(y)
    return float((curve - line).mean() / len(y))


def report(y: np.ndarray, treated: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    return {
        "qini": round(qini(y, treated, score), 6),
        "uplift_at": {
            f"{int(k * 100)}%": None
            if (u := uplift_at(y, treated, score, k)) is None
            else round(u, 4)
            for k in SHARES
        },
    }


def train_uplift(
    prep: Prepared, until: dt.date, last_event: dt.datetime, seed: int = 0
) -> tuple[TakeupModel, TakeupModel, dict[str, Any]]:
    """The two models and their held-out report beside ranking by take-up alone."""
    train_idx, eval_idx = split(prep, until, last_event)
    channel = prep.column("channel")
    label = prep.column("label").astype(np.int8)
    vocab = vocab_of(prep, train_idx)
    x = prep.matrix(vocab)
    models = []
    for name in ("sms", "inapp"):
        rows = train_idx[channel[train_idx] == name]
        if not len(rows):
            raise ZhidaError(f"no {name} notices to train the uplift model on")
        m = fit(x[rows], label[rows], seed)
        m.vocab = vocab
        models.append(m)
    sms, inapp = models
    ev = eval_idx[np.isin(channel[eval_idx], ["sms", "inapp"])]
    treated = channel[ev] == "sms"
    y = label[ev]
    xe = x[ev]
    uplift = sms.predict(xe) - inapp.predict(xe)
    result = {
        "eval_rows": len(ev),
        "sms_share": round(float(treated.mean()), 4),
        "observed_uplift": round(float(y[treated].mean() - y[~treated].mean()), 4),
        "uplift_model": report(y, treated, uplift),
        "by_takeup": report(y, treated, inapp.predict(xe)),
        "random": report(y, treated, np.random.default_rng(seed).random(len(ev))),
    }
    return sms, inapp, result


#: the stored uplift model's two take-up models, under var_dir (each a `model.save` file)
ACTIVE_UPLIFT = Path("models") / "uplift-active"
_FILES = ("sms.skops", "inapp.skops")  # the two models of an uplift directory
#: the share of rows whose uplift@k decides activation (the planner gives the SMS to the
#: few candidates the cap allows, so a small share: the top fifth)
ACTIVATE_AT = "20%"


@dataclass
class UpliftModel:
    """The two-model learner: predicted take-up by SMS minus in-app alone."""

    sms: TakeupModel
    inapp: TakeupModel

    @property
    def vocab(self) -> Vocab:
        return self.sms.vocab

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.sms.predict(x) - self.inapp.predict(x)


def beats_takeup(result: dict[str, Any], at: str = ACTIVATE_AT) -> tuple[bool, str]:
    """Whether the held-out uplift@`at` of ranking by predicted uplift is strictly above
    that of ranking by predicted (in-app) take-up; and why."""
    mine = result["uplift_model"]["uplift_at"].get(at)
    theirs = result["by_takeup"]["uplift_at"].get(at)
    if mine is None or theirs is None:
        return False, f"uplift@{at} undefined (no SMS or no in-app rows among the top)"
    if mine > theirs:
        return True, f"uplift@{at} {mine} > {theirs} by take-up"
    return False, f"uplift@{at} {mine} <= {theirs} by take-up"


def save_uplift(model: UpliftModel, directory: Path) -> None:
    """Two take-up model files (`model.save`): the same safe format and loader."""
    for part, name in zip((model.sms, model.inapp), _FILES, strict=True):
        save(part, directory / name)


def load_uplift(directory: Path) -> UpliftModel:
    return UpliftModel(*(load(directory / name) for name in _FILES))


# directory -> (its files' stamp, the model), the last few directories asked for
_loaded: dict[Path, tuple[tuple[int, ...], UpliftModel]] = {}
_loaded_lock = threading.Lock()
_LOADED_MAX = 4


def active_uplift(var_dir: Path) -> UpliftModel | None:
    """The active uplift model, or None when none was activated. Loaded once per
    activation: each call compares the files' inode, modification time and size (two
    stats) with those of the copy loaded before, since every planning pass asks (about
    0.06 s a file to load)."""
    directory = var_dir / ACTIVE_UPLIFT
    if not directory.is_dir():
        return None
    stats = [os.stat(directory / name) for name in _FILES]
    stamp = tuple(x for st in stats for x in (st.st_ino, st.st_mtime_ns, st.st_size))
    with _loaded_lock:
        hit = _loaded.get(directory)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    model = load_uplift(directory)
    with _loaded_lock:
        _loaded.pop(directory, None)
        _loaded[directory] = (stamp, model)
        while len(_loaded) > _LOADED_MAX:
            del _loaded[next(iter(_loaded))]
    return model
