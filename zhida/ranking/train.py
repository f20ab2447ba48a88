"""`zhida rank train`: the take-up model from feedback, reported beside the heuristic.

Rows are the notices of `feedback.notices` (held-out rows are not notices and stay
out). The model trains on notices whose 30-day label window ended before `until`
(so it has seen no event from `until` on) and is evaluated on notices from `until`
on whose window has ended by the last event, beside the heuristic on the same rows.
Features are computed as of each notice's date (Asia/Shanghai); the benefit is the
batch evaluator's amount for the profile as of `until`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from zhida.errors import ZhidaError
from zhida.matcher.batch import BatchEvaluator
from zhida.matcher.columns import Columns
from zhida.profiles.schema import Audience, SchemaSet
from zhida.ranking import features as F
from zhida.ranking import metrics
from zhida.ranking.feedback import LABEL_DAYS
from zhida.ranking.heuristic import heuristic_takeup
from zhida.ranking.model import TakeupModel, fit
from zhida.rules.policy import Policy


@dataclass
class Population:
    """What the features read beyond the feedback: profiles and policies."""

    frames: dict[Audience, pl.DataFrame]
    schemas: SchemaSet
    policies: list[Policy]


@dataclass
class Part:
    """The notices of one audience with their feature batch."""

    rows: pl.DataFrame  # notices, with _pos and _pol
    batch: F.Batch
    cats: dict[str, F.Categories]


@dataclass
class Prepared:
    parts: list[Part] = field(default_factory=list)
    dropped: int = 0  # notices of a profile or policy not found

    def column(self, name: str) -> np.ndarray:
        return np.concatenate([p.rows.get_column(name).to_numpy() for p in self.parts])

    def matrix(self, vocab: F.Vocab) -> np.ndarray:
        return np.concatenate([F.matrix(p.batch, vocab, p.cats) for p in self.parts])

    def heuristic(self) -> np.ndarray:
        return np.concatenate(
            [
                heuristic_takeup(
                    list(p.batch.policies), p.batch.pol, p.batch.benefit, np.asarray(p.batch.as_of)
                )
                for p in self.parts
            ]
        )


def shanghai_days(col: str = "at") -> pl.Expr:
    """An aware datetime column as days since 1970-01-01 of its Asia/Shanghai date."""
    return pl.col(col).dt.convert_time_zone("Asia/Shanghai").dt.date().cast(pl.Int32)


def benefits(
    df: pl.DataFrame,
    schemas: SchemaSet,
    policies: list[Policy],
    pos: np.ndarray,
    pol: np.ndarray,
    as_of: dt.date,
) -> np.ndarray:
    """The evaluator's benefit amount of policy `pol[i]` for profile row `pos[i]`."""
    out = np.full(len(pos), np.nan)
    if not policies or not len(pos):
        return out
    evaluator = BatchEvaluator(policies, as_of)
    for result in evaluator.evaluate(df, schemas[policies[0].audience]):
        sel = np.nonzero((pos >= result.start) & (pos < result.stop))[0]
        if len(sel):
            out[sel] = result.benefit_matrix()[pol[sel], pos[sel] - result.start]
    return out


def prepare(notices: pl.DataFrame, pop: Population, as_of: dt.date) -> Prepared:
    out = Prepared()
    known = 0
    for audience, df in pop.frames.items():
        policies = [p for p in pop.policies if p.audience is audience]
        if not policies or df.height == 0:
            continue
        ids = df.select(pl.col("id").alias("profile"), pl.int_range(pl.len()).alias("_pos"))
        pols = pl.DataFrame({"policy": [p.id for p in policies], "_pol": np.arange(len(policies))})
        rows = notices.join(ids, on="profile").join(pols, on="policy").sort("at", "profile")
        if rows.height == 0:
            continue
        known += rows.height
        pos, pol = rows.get_column("_pos").to_numpy(), rows.get_column("_pol").to_numpy()
        batch = F.Batch(
            columns=Columns(df, pop.schemas[audience]),
            rows=pos,
            policies=policies,
            pol=pol,
            benefit=benefits(df, pop.schemas, policies, pos, pol, as_of),
            as_of=rows.select(shanghai_days()).to_series().to_numpy().astype(np.float64),
            channel=np.array(rows.get_column("channel").to_list(), dtype=object),
            past_opened=rows.get_column("past_opened").to_numpy(),
            past_applied=rows.get_column("past_applied").to_numpy(),
        )
        out.parts.append(Part(rows, batch, F.categories(batch)))
    out.dropped = notices.height - known
    return out


def default_until(notices: pl.DataFrame) -> dt.date:
    """Three quarters of the way through the notices."""
    at = notices.filter(~pl.col("held_out")).get_column("at").sort()
    if at.len() == 0:
        raise ZhidaError("no notices in the feedback: nothing to train on")
    instant = at[int(0.75 * (at.len() - 1))]
    return dt.date.fromordinal(instant.astimezone(dt.UTC).date().toordinal())


@dataclass
class Trained:
    model: TakeupModel
    report: dict[str, Any]
    better: bool
    eval_rows: np.ndarray  # positions (in Prepared order) of the evaluation rows
    eval_model: np.ndarray
    eval_heuristic: np.ndarray


def split(prep: Prepared, until: dt.date, last_event: dt.datetime) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training rows (in time order) and of the evaluation rows."""
    if not prep.parts:
        raise ZhidaError("no notice in the feedback is of a known profile and policy")
    held = prep.column("held_out").astype(bool)
    cutoff = np.datetime64(dt.datetime.combine(until, dt.time(), dt.UTC).replace(tzinfo=None))
    window = np.timedelta64(LABEL_DAYS, "D")
    at64 = prep.column("at").astype("datetime64[us]")
    last = np.datetime64(last_event.astimezone(dt.UTC).replace(tzinfo=None))
    train_idx = np.nonzero(~held & (at64 + window <= cutoff))[0]
    eval_idx = np.nonzero(~held & (at64 >= cutoff) & (at64 + window <= last))[0]
    if not len(eval_idx):
        raise ZhidaError(
            f"no notices from {until} on whose 30 days have passed: nothing to evaluate on"
        )
    return train_idx[np.argsort(at64[train_idx], kind="stable")], eval_idx


def vocab_of(prep: Prepared, rows: np.ndarray) -> F.Vocab:
    return F.learn_vocab(
        [
            {k: F.Categories(c.codes[m], c.values) for k, c in p.cats.items()}
            for p, m in _masks(prep, rows)
        ]
    )


def train(prep: Prepared, until: dt.date, last_event: dt.datetime, seed: int = 0) -> Trained:
    train_idx, eval_idx = split(prep, until, last_event)
    label = prep.column("label").astype(np.int8)
    vocab = vocab_of(prep, train_idx)
    x = prep.matrix(vocab)
    model = fit(x[train_idx], label[train_idx], seed)
    model.vocab = vocab
    profiles = prep.column("profile")[eval_idx]
    y = label[eval_idx]
    p_model = model.predict(x[eval_idx])
    p_heur = prep.heuristic()[eval_idx]
    m = metrics.scores(profiles, p_model, y)
    h = metrics.scores(profiles, p_heur, y)
    v = metrics.verdict(y, p_model, p_heur, m, h)
    report = {
        "until": until.isoformat(),
        "train_rows": len(train_idx),
        "train_takeup": round(float(label[train_idx].mean()), 4),
        "eval_rows": len(eval_idx),
        "eval_takeup": round(float(y.mean()), 4),
        "dropped_notices": prep.dropped,
        "iterations": int(model.booster.n_iter_),
        "model": m,
        "heuristic": h,
        "better": v.better,
        "auc_gain_low": v.auc_gain_low,
        "reasons": v.reasons,
    }
    model.report = report
    return Trained(model, report, v.better, eval_idx, p_model, p_heur)


def _masks(prep: Prepared, idx: np.ndarray) -> list[tuple[Part, np.ndarray]]:
    out, start = [], 0
    for part in prep.parts:
        n = part.rows.height
        mask = np.zeros(n, dtype=bool)
        local = idx[(idx >= start) & (idx < start + n)] - start
        mask[local] = True
        out.append((part, mask))
        start += n
    return out
