"""zhida (政策直达): proactive policy matching and notification.

One package per stage of the pipeline (DESIGN.md "Layout"): `rules` (policy text ->
Policy), `profiles` (schema, validators, readers, events), `matcher` (evaluation),
`ranking`, `store`, `publishing`, `ingest`, `runs`, `channels`; the entry points
`api`, `cli` and `worker` are imported by nothing else. `errors`, `settings` and
`clock` are shared by all.
"""
