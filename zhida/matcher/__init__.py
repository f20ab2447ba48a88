"""Evaluation only (no database, no Celery): `reference` (one profile, plain Python,
traces), `batch` + `vector` + `columns` (vectorised over whole columns), `realtime`
(durable_rules; its parts in `realtime_compile`, `realtime_facts`, `realtime_rulesets`),
`explanation` (explanations as structured lines, from the reference trace), `explain`
(the one renderer of them as Chinese text), `output` (JSON Lines), `policy_tests` (the
tests written inside a policy).
"""
