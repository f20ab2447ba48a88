"""`zhida synth feedback`: simulated feedback with a known, hidden take-up function, so
what a model gains can be measured against the truth. Deterministic for a seed.

Every (profile, policy) eligible as of `start` is noticed once, at a random time in
the `days` after it (09:00-18:00 Asia/Shanghai), on a channel drawn at random (SMS or
in-app, half each), except a `holdout` share drawn at random, which is not noticed
(a `held_out` event). What follows is drawn from the hidden take-up function of the
features (`zhida.ranking.features`, as of the notice's date):

    logit = -2.8
            + 0.35 x (benefit_log - 4)           more money, more take-up (10万 = +0.35)
            + 1.0  x high_tech + 0.6 x specialized_sme
            - 1.2  x [credit is C or D]          poor tax credit
            + 0.7  x [city is 3301]              Hangzhou
            + 0.6  x [0 <= days_to_deadline <= 30]
            - 0.05 x min(age_years, 30)          older firms, less interest
            + 0.5  x [education is 硕士 or 博士]  citizens
            + sms effect x [channel is sms]      sms effect = 0.3 + 0.9 x [size < 20]
    take-up if noticed:      sigmoid(logit)
    take-up if held out:     sigmoid(logit - 1.6 - sms effect x [channel is sms])

So a notice raises take-up, an SMS more so for small firms (where uplift matters).
A taker opens the link within a day and applies within 29 days of the notice; 70% of
applications are granted 5-20 days later. Others open the link with chance
sigmoid(logit + 1.5) and 10% of those decline. 97% of SMS are delivered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from zhida.matcher.batch import BatchEvaluator
from zhida.matcher.columns import Columns
from zhida.ranking.features import Batch, Categories, categories, numeric
from zhida.ranking.feedback import EVENT_SCHEMA
from zhida.ranking.train import Population

SHANGHAI_OFFSET = dt.timedelta(hours=8)


@dataclass
class Simulated:
    events: pl.DataFrame  # the event frame (feedback.EVENT_SCHEMA)
    truth: pl.DataFrame  # profile, policy, channel, held_out, p_notified, p_held


def _is(cats: Categories, values: set[str]) -> np.ndarray:
    hit = np.array([v in values for v in cats.values] + [False])
    return hit[cats.codes]


def hidden_logit(cats: dict[str, Categories], nums: dict[str, np.ndarray]) -> np.ndarray:
    """The simulator's take-up logit for a notice on the batch's channel (module docstring)."""

    def z(x: np.ndarray) -> np.ndarray:
        return np.nan_to_num(x, nan=0.0)

    logit = (
        -2.8
        + 0.35 * (z(nums["benefit_log"]) - 4.0)
        + 1.0 * z(nums["high_tech"])
        + 0.6 * z(nums["specialized_sme"])
        - 1.2 * _is(cats["credit"], {"C", "D"})
        + 0.7 * _is(cats["city"], {"3301"})
        + 0.6 * ((nums["days_to_deadline"] >= 0) & (nums["days_to_deadline"] <= 30))
        - 0.05 * np.minimum(z(nums["age_years"]), 30.0)
        + 0.5 * _is(cats["education"], {"硕士", "博士"})
    )
    return logit + sms_effect(cats, nums) * _is(cats["channel"], {"sms"})


def sms_effect(cats: dict[str, Categories], nums: dict[str, np.ndarray]) -> np.ndarray:
    return 0.3 + 0.9 * (np.nan_to_num(nums["size"], nan=1e9) < 20)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate(
    pop: Population, start: dt.date, days: int, seed: int, holdout: float | None = None
) -> Simulated:
    """`holdout`: the share held out of every policy (default each policy's `holdout:`)."""
    rng = np.random.default_rng(seed)
    events: list[pl.DataFrame] = []
    truths: list[pl.DataFrame] = []
    for audience, df in pop.frames.items():
        policies = [p for p in pop.policies if p.audience is audience]
        if not policies or df.height == 0:
            continue
        schema = pop.schemas[audience]
        pos_parts, pol_parts, ben_parts = [], [], []
        for result in BatchEvaluator(policies, start).evaluate(df, schema):
            pol, local = np.nonzero(result.outcome == 2)
            pos_parts.append(local + result.start)
            pol_parts.append(pol)
            ben_parts.append(result.benefit_matrix()[pol, local])
        pos, pol = np.concatenate(pos_parts), np.concatenate(pol_parts)
        m = len(pos)
        if m == 0:
            continue
        share = np.array([p.holdout if holdout is None else holdout for p in policies])
        held = rng.random(m) < share[pol]
        sms = rng.random(m) < 0.5
        seconds = rng.integers(0, days, m) * 86400 + rng.integers(9 * 3600, 18 * 3600, m)
        base = np.datetime64(dt.datetime.combine(start, dt.time()) - SHANGHAI_OFFSET, "s")
        t0 = base + seconds.astype("timedelta64[s]")
        local_day = (t0 + np.timedelta64(8, "h")).astype("datetime64[D]").astype(np.int64)
        batch = Batch(
            columns=Columns(df, schema),
            rows=pos,
            policies=policies,
            pol=pol,
            benefit=np.concatenate(ben_parts),
            as_of=local_day.astype(np.float64),
            channel=np.where(sms, "sms", "inapp").astype(object),
        )
        cats, nums = categories(batch), numeric(batch)
        logit = hidden_logit(cats, nums)
        p_notified = sigmoid(logit)
        p_held = sigmoid(logit - 1.6 - sms_effect(cats, nums) * sms)
        took = rng.random(m) < np.where(held, p_held, p_notified)
        opened = ~held & (took | (rng.random(m) < sigmoid(logit + 1.5)))
        delivered = ~held & sms & (rng.random(m) < 0.97)
        open_at = t0 + (rng.random(m) * 86400).astype("timedelta64[s]")
        apply_at = t0 + (86400 + rng.random(m) * 28 * 86400).astype("timedelta64[s]")
        granted = took & (rng.random(m) < 0.7)
        grant_at = apply_at + ((5 + rng.random(m) * 15) * 86400).astype("timedelta64[s]")
        declined = opened & ~took & (rng.random(m) < 0.1)
        ids = df.get_column("id").gather(pos).to_numpy()
        names = np.array([p.id for p in policies], dtype=object)[pol]
        channel = np.where(sms, "sms", "inapp").astype(object)
        channel[held] = None
        for mask, kind, at in (
            (~held, "sent", t0),
            (held, "held_out", t0),
            (delivered, "delivered", t0 + np.timedelta64(10, "s")),
            (opened, "opened", open_at),
            (took, "applied", apply_at),
            (granted, "granted", grant_at),
            (declined, "declined", open_at + np.timedelta64(3600, "s")),
        ):
            if not mask.any():
                continue
            events.append(
                pl.DataFrame(
                    {
                        "profile": ids[mask],
                        "policy": names[mask],
                        "event": [kind] * int(mask.sum()),
                        "at": at[mask].astype("datetime64[us]"),
                        "channel": channel[mask].tolist(),
                    },
                    schema={**EVENT_SCHEMA, "at": pl.Datetime("us")},
                ).with_columns(pl.col("at").dt.replace_time_zone("UTC"))
            )
        truths.append(
            pl.DataFrame(
                {
                    "profile": ids,
                    "policy": names,
                    "channel": channel.tolist(),
                    "held_out": held,
                    "p_notified": p_notified,
                    "p_held": p_held,
                    "sms_effect": sms_effect(cats, nums),
                }
            )
        )
    if not events:
        empty = pl.DataFrame(schema=EVENT_SCHEMA)
        return Simulated(empty, pl.DataFrame())
    frame = pl.concat(events).sort("at", "profile", "policy")
    return Simulated(frame, pl.concat(truths))


def feedback_lines(events: pl.DataFrame) -> pl.DataFrame:
    """The event frame as `zhida feedback import` lines: at as ISO 8601 with offset."""
    return events.select(
        "profile",
        "policy",
        "event",
        pl.col("at").dt.convert_time_zone("Asia/Shanghai").dt.strftime("%Y-%m-%dT%H:%M:%S%:z"),
        "channel",
    )
