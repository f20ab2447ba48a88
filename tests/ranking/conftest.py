"""A simulated feedback history over the example pack, shared by the ranking tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from zhida.profiles.schema import Audience
from zhida.profiles.synth import synthesize
from zhida.ranking.feedback import notices
from zhida.ranking.simulate import Simulated, simulate
from zhida.ranking.train import Population
from zhida.rules.loader import load_pack

ROOT = Path(__file__).resolve().parents[2]
START = dt.date(2026, 3, 1)
UNTIL = dt.date(2026, 5, 30)


@dataclass
class World:
    pop: Population
    sim: Simulated
    notices: pl.DataFrame


@pytest.fixture(scope="session")
def world() -> World:
    pack = load_pack([ROOT / "examples" / "policies"])
    frames = {
        Audience.ENTERPRISE: synthesize(30000, Audience.ENTERPRISE, seed=1, schemas=pack.schemas),
        Audience.CITIZEN: synthesize(10000, Audience.CITIZEN, seed=2, schemas=pack.schemas),
    }
    pop = Population(frames, pack.schemas, pack.policies)
    sim = simulate(pop, START, 120, seed=0, holdout=0.2)
    return World(pop, sim, notices(sim.events))
