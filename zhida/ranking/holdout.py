"""Holdouts and lift: what notifying causes.

A policy's `holdout:` share of its newly eligible is planned but not notified (the
planner records a `held_out` feedback event instead). Who is held out is decided by a
keyed hash, HMAC-SHA256 with the secret key of (profile, policy): the same pair is
chosen again on every re-run and by every worker, and no one without the key can
predict or steer it.

`lift` compares take-up (an application or grant within 30 days of the first notice
or holdout, `feedback.notices`) of the notified with the held out, with Newcombe's
hybrid score interval (Wilson intervals of each rate) for the difference at 95%.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass

import polars as pl

Z95 = 1.959963984540054


def hash_share(secret: str, profile_id: str, policy_id: str) -> float:
    """The pair's place in [0, 1): the first 8 bytes of HMAC-SHA256(secret, profile, policy)."""
    digest = hmac.new(
        secret.encode(), f"{profile_id}\x1f{policy_id}".encode(), hashlib.sha256
    ).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def held_out(secret: str, profile_id: str, policy_id: str, share: float) -> bool:
    return share > 0 and hash_share(secret, profile_id, policy_id) < share


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Lift:
    policy: str
    notified: int
    notified_took: int
    held: int
    held_took: int

    @property
    def rate_notified(self) -> float:
        return self.notified_took / self.notified if self.notified else float("nan")

    @property
    def rate_held(self) -> float:
        return self.held_took / self.held if self.held else float("nan")

    @property
    def lift(self) -> float:
        return self.rate_notified - self.rate_held

    def interval(self) -> tuple[float, float]:
        """95% interval of the difference (Newcombe 1998, method 10)."""
        p1, p0 = self.rate_notified, self.rate_held
        l1, u1 = wilson(self.notified_took, self.notified)
        l0, u0 = wilson(self.held_took, self.held)
        d = p1 - p0
        return d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt(
            (u1 - p1) ** 2 + (p0 - l0) ** 2
        )

    def as_dict(self) -> dict[str, object]:
        lo, hi = self.interval() if self.notified and self.held else (None, None)
        return {
            "policy": self.policy,
            "notified": self.notified,
            "notified_took": self.notified_took,
            "held_out": self.held,
            "held_out_took": self.held_took,
            "rate_notified": _round(self.rate_notified),
            "rate_held_out": _round(self.rate_held),
            "lift": _round(self.lift),
            "low": _round(lo),
            "high": _round(hi),
        }


def _round(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 4)


def lift(notices: pl.DataFrame, policy_id: str) -> Lift:
    """Take-up of the notified vs the held out, from `feedback.notices` rows."""
    rows = notices.filter(pl.col("policy") == policy_id)
    held = rows.filter(pl.col("held_out"))
    told = rows.filter(~pl.col("held_out"))
    return Lift(
        policy_id,
        told.height,
        int(told.get_column("label").sum()),
        held.height,
        int(held.get_column("label").sum()),
    )
