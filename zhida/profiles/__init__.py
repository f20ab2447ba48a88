"""Profiles at the edge of the pipeline: their schema, field formats, files, events.

Modules and packages, and the public API callers import from each:

- `schema`: `FieldType`, `Audience`, `Field`, `ProfileSchema`, `SchemaSet`,
  `builtin_schema` (the built-in enterprise and citizen fields);
  `schema_file`: a pack's schema.yaml (`load_schema_extension`, `parse_schema_extension`).
- `validate`: every field format defined once (`FieldFormat`, `format_of`; phone,
  region and date checks, scalar and vectorised; the yes/no words, 万/亿 and the
  type reasons); `uscc`: the USCC check character (`is_valid_uscc`,
  `uscc_valid_mask`, `make_uscc`).
- `readers/`: `read_profiles` -> `ProfileBatch`, `write_profiles`, `polars_dtype`
  (CSV, JSON Lines, Parquet; every row validated once).
- `events`: profile updates and life events (`parse_event(s)`, `apply_event`, `EventLog`).
- `resolve/`: entity resolution (`resolve`, `StoreView`, `FrameStore`, `normalize_name`).
- `synth/`: synthetic populations (`synthesize_enterprises`, `synthesize_citizens`,
  `synth_to_file`).
- `regions`: names of places and industries (`place_name`, `city_of`, `section_of`).
"""
