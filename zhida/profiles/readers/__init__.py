"""Read and write profile files: CSV, JSON Lines and Parquet.

Public API: `read_profiles` (a file -> a `ProfileBatch`: one typed frame per
audience, the skipped rows with their lines and reasons, warnings),
`write_profiles`, `polars_dtype` (the dtype of a field type in every frame) and
the extensions of each file type.

Modules, one job each: `read` (by extension), `csv_input`, `jsonl_input`,
`parquet_input` (a file's raw rows, `raw`), `stream` (a file batch by batch, with
`seen`: the ids of earlier batches), `convert` (a column to its field's
type, vectorised, with the field formats of `zhida.profiles.validate`), `rows`
(kind, id and fields of every row; the batch), `write`, `batch` (the types).
"""

from zhida.profiles.readers.batch import (
    CSV_EXTENSIONS,
    JSONL_EXTENSIONS,
    PARQUET_EXTENSIONS,
    ProfileBatch,
    polars_dtype,
)
from zhida.profiles.readers.read import read_profiles
from zhida.profiles.readers.stream import read_ahead, stream_profiles
from zhida.profiles.readers.write import write_profiles

__all__ = [
    "CSV_EXTENSIONS",
    "JSONL_EXTENSIONS",
    "PARQUET_EXTENSIONS",
    "ProfileBatch",
    "polars_dtype",
    "read_ahead",
    "read_profiles",
    "stream_profiles",
    "write_profiles",
]
