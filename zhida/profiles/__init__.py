"""Profiles at the edge: `schema` (built-in fields), `schema_file` (a pack's
schema.yaml), `validate` + `uscc` (field formats), `readers` (CSV, JSON Lines,
Parquet, every row validated once), `events` (profile updates and life events),
`resolve` (entity resolution), `synth` (synthetic populations), `regions`.
"""
