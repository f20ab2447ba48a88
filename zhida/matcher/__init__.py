"""Evaluation only (no database, no Celery): `reference` (one profile, plain Python,
traces), `batch` + `vector` + `columns` (vectorised over whole columns), `realtime`
(durable_rules), `explain` (Chinese explanations), `output` (JSON Lines),
`policy_tests` (the tests written inside a policy).
"""
