"""A profile file's rows before conversion, and the checks every text format shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from zhida.errors import ProfileDataError

BOM = b"\xef\xbb\xbf"


@dataclass
class Raw:
    """A file's rows before conversion: columns (mostly strings), 1-based lines."""

    df: pl.DataFrame
    lines: npt.NDArray[np.int64]
    row_errors: dict[int, str] = field(default_factory=dict)  # row index -> reason
    warnings: list[str] = field(default_factory=list)


def read_bytes(path: Path, fname: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ProfileDataError(f"{fname}: no such file") from None
    except IsADirectoryError:
        raise ProfileDataError(f"{fname}: is a directory, not a profile file") from None
    except OSError as e:
        raise ProfileDataError(f"{fname}: cannot read file ({e.strerror})") from None


def decode(data: bytes, fname: str, what: str, offset: int = 0) -> str:
    """A file's bytes (or a block of them, `offset` bytes into the file) as text."""
    if b"\x00" in data:
        raise ProfileDataError(f"{fname}: binary data, not a {what} file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProfileDataError(
            f"{fname}: not UTF-8 text (byte {offset + e.start}); save the {what} file as UTF-8"
        ) from None


def header_names(names: list[str], fname: str) -> list[str]:
    out = [n.strip() for n in names]
    seen: set[str] = set()
    for n in out:
        if n and n in seen:
            raise ProfileDataError(f"{fname}: column '{n}' appears twice in the header")
        seen.add(n)
    return out
