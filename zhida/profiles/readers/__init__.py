"""Read and write profile files: CSV, JSON Lines and Parquet."""

from zhida.profiles.readers.read import (
    CSV_EXTENSIONS,
    JSONL_EXTENSIONS,
    PARQUET_EXTENSIONS,
    ProfileBatch,
    json_type,
    polars_dtype,
    read_profiles,
    write_profiles,
)

__all__ = [
    "CSV_EXTENSIONS",
    "JSONL_EXTENSIONS",
    "PARQUET_EXTENSIONS",
    "ProfileBatch",
    "json_type",
    "polars_dtype",
    "read_profiles",
    "write_profiles",
]
