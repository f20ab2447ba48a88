"""BatchEvaluator: chunks of at most DEFAULT_CHUNK rows; columns converted once per frame."""

from __future__ import annotations

import datetime as dt

import numpy as np

from tests.support.factories import enterprise, make_frame, make_policy, schemas_for_tests
from zhida.matcher.batch import DEFAULT_CHUNK, BatchEvaluator

SCHEMAS = schemas_for_tests()
SCHEMA = SCHEMAS["enterprise"]
AS_OF = dt.date(2026, 4, 1)


def _outcomes(evaluator: BatchEvaluator, frame: object) -> list[int]:
    return np.concatenate([r.outcome[0] for r in evaluator.evaluate(frame, SCHEMA)]).tolist()  # type: ignore[arg-type]


def test_chunks_are_at_most_the_default_size() -> None:
    policy = make_policy(schemas=SCHEMAS)
    assert BatchEvaluator([policy], AS_OF, chunk_size=10**9).chunk_size == DEFAULT_CHUNK


def test_a_second_frame_is_converted_afresh_and_the_same_frame_is_not() -> None:
    policy = make_policy(schemas=SCHEMAS)
    rich = make_frame([enterprise(id="E1", revenue=2e8), enterprise(id="E2", revenue=1e6)], SCHEMA)
    poor = make_frame([enterprise(id="E1", revenue=1e6), enterprise(id="E2", revenue=2e8)], SCHEMA)
    evaluator = BatchEvaluator([policy], AS_OF)
    assert _outcomes(evaluator, rich) == [2, 0]
    columns = evaluator._columns
    assert _outcomes(evaluator, rich) == [2, 0] and evaluator._columns is columns
    assert _outcomes(evaluator, poor) == [0, 2]
    assert _outcomes(BatchEvaluator([policy], AS_OF), poor) == [0, 2]
