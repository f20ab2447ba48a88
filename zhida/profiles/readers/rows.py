"""Rows of a file to one typed frame per audience: kind, id, fields, and the rows to skip."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import polars as pl

from zhida.errors import ProfileDataError, RowError
from zhida.profiles.readers.batch import ProfileBatch, polars_dtype
from zhida.profiles.readers.convert import (
    bad_column,
    clean_strings,
    convert_frame,
    plan_column,
    show_value,
)
from zhida.profiles.readers.raw import Raw
from zhida.profiles.readers.seen import SeenIds, id_hashes
from zhida.profiles.schema import Audience, ProfileSchema, SchemaSet
from zhida.profiles.validate import bool_np, id_problem, id_valid_mask
from zhida.suggest import closest

Reasons = dict[int, list[str]]  # row index -> why the row is skipped, in the order found
IntArray = npt.NDArray[np.int64]


def _add(reasons: Reasons, rows: IntArray, text: Callable[[int], str]) -> None:
    for i in rows.tolist():
        reasons.setdefault(i, []).append(text(i))


def _suggest(name: str, candidates: dict[str, str]) -> str | None:
    """A close field name for a misspelt column (candidates: spelling -> field name)."""
    spelling = closest(name, candidates)
    return candidates[spelling] if spelling is not None else None


def _check_columns(
    columns: list[str],
    schemas: SchemaSet,
    forced: Audience | None,
    fname: str,
    warned: set[str] | None = None,
) -> list[str]:
    """Warnings for the columns that are ignored (but not those in `warned`, the columns
    of earlier batches; it gets this batch's); a file without an `id` column is refused."""
    audiences = [forced] if forced is not None else list(Audience)
    known = {name for a in audiences for name in schemas[a].fields}
    other = {name for a in Audience for name in schemas[a].fields} - known
    spellings: dict[str, str] = {}
    for a in audiences:
        for fl in schemas[a].fields.values():
            spellings.setdefault(fl.name, fl.name)
            spellings.setdefault(fl.label, fl.name)
    warnings: list[str] = []
    for col in columns:
        if col == "kind" or col in known or col.startswith("\x00"):
            continue
        if warned is not None:
            if col in warned:
                continue
            warned.add(col)
        if col in other and forced is not None:
            article = "an" if forced.value[0] in "aeiou" else "a"
            warnings.append(f"column '{col}' is not {article} {forced.value} field; ignored")
            continue
        hint = _suggest(col, spellings)
        warnings.append(
            f"unknown column '{col}' ignored" + (f" (did you mean '{hint}'?)" if hint else "")
        )
    if "id" not in columns:
        near = [c for c in columns if _suggest(c, spellings) == "id"]
        hint = f" (is '{near[0]}' the id?)" if near else ""
        raise ProfileDataError(f"{fname}: no 'id' column{hint}")
    return warnings


def _text_column(df: pl.DataFrame, name: str, fname: str) -> pl.Series:
    try:
        return clean_strings(df[name].cast(pl.String, strict=False))
    except Exception:
        raise ProfileDataError(
            f"{fname}: the '{name}' column holds {df[name].dtype} values, not text"
        ) from None


def _kind_codes(
    df: pl.DataFrame,
    audiences: list[Audience],
    forced: Audience | None,
    pre_bad: npt.NDArray[np.bool_],
    reasons: Reasons,
    fname: str,
) -> npt.NDArray[np.int8]:
    """Which audience (index into `audiences`) each row belongs to; -1 for none."""
    code = np.full(df.height, -1, dtype=np.int8)
    one = _one_kind(df, audiences)
    if one is not None:  # every row names the same audience, exactly: nothing to report
        code[:] = one
        code[pre_bad] = -1
        return code
    kind_col = _text_column(df, "kind", fname) if "kind" in df.columns else None
    if kind_col is None:
        if forced is None:
            raise ProfileDataError(
                f"{fname}: no 'kind' column; add one (enterprise or citizen per row) "
                "or give the kind of all rows (--kind)"
            )
        code[:] = 0
    else:
        kind_low = kind_col.str.to_lowercase()
        for ai, a in enumerate(audiences):
            code[bool_np(kind_low == a.value)] = ai
        if forced is not None:
            code[bool_np(kind_low.is_null())] = 0
        bad_kind = np.flatnonzero((code < 0) & ~pre_bad)
        if bad_kind.size:
            shown_kinds = kind_col.gather(bad_kind).to_list()
            for i, k in zip(bad_kind.tolist(), shown_kinds, strict=True):
                if k is None:
                    why = "missing kind (enterprise or citizen)"
                elif forced is not None:
                    why = f"kind {show_value(k)} is not {forced.value}, the kind requested"
                else:
                    why = f"kind {show_value(k)} is not enterprise or citizen"
                reasons.setdefault(i, []).append(why)
    code[pre_bad] = -1
    return code


def _one_kind(df: pl.DataFrame, audiences: list[Audience]) -> int | None:
    """The index of the audience every row's `kind` names as written (``enterprise``, no
    spaces or capitals: what the checks would find), or None."""
    if "kind" not in df.columns or df.height == 0:
        return None
    kind = df.get_column("kind")
    if kind.dtype != pl.String or kind.null_count():
        return None
    first = kind[0]
    for ai, a in enumerate(audiences):
        if first == a.value and bool((kind == a.value).all()):
            return ai
    return None


def _checked_ids(
    df: pl.DataFrame,
    lines: IntArray,
    pre_bad: npt.NDArray[np.bool_],
    reasons: Reasons,
    fname: str,
    seen: SeenIds | None = None,
) -> pl.Series:
    """The id column; a missing id or one seen on an earlier line makes the row bad.

    `seen` holds the ids of earlier batches of the same file (and gets this batch's)."""
    ids = _text_column(df, "id", fname).alias("id")
    present = bool_np(ids.is_not_null())
    no_id = ~present & ~pre_bad
    _add(reasons, np.flatnonzero(no_id), lambda i: "missing id")
    bad_id = present & ~id_valid_mask(ids) & ~pre_bad
    if bad_id.any():
        bad_rows = np.flatnonzero(bad_id)
        shown = dict(zip(bad_rows.tolist(), ids.gather(bad_rows).to_list(), strict=True))
        _add(reasons, bad_rows, lambda i: id_problem(shown[i]) or "bad id")
    ordered = seen is not None and seen.in_order(ids)  # then no id repeats an earlier one
    first = np.ones(len(ids), dtype=np.bool_) if ordered else bool_np(ids.is_first_distinct())
    dup = ~first & present
    earlier = np.full(len(ids), -1, dtype=np.int64)
    if seen is not None:
        h1, h2 = id_hashes(ids)
        if ordered:
            seen.add_in_order(h1, h2, lines)
        else:
            earlier = np.where(present, seen.first_lines(h1, h2), -1)
            new = first & present & (earlier < 0)
            seen.add(h1[new], h2[new], lines[new])
            dup |= earlier >= 0
    if dup.any():
        dup_rows = np.flatnonzero(dup)
        dup_ids = ids.gather(dup_rows).unique().to_list()
        firsts = (
            pl.DataFrame({"id": ids, "line": lines})
            .filter(pl.col("id").is_in(pl.Series(dup_ids, dtype=pl.String).implode()))
            .group_by("id")
            .agg(pl.col("line").min())
        )
        first_line = dict(zip(firsts["id"].to_list(), firsts["line"].to_list(), strict=True))
        id_list = ids.to_list()
        for i in np.flatnonzero(earlier >= 0).tolist():
            first_line[id_list[i]] = int(earlier[i])

        def duplicate(i: int) -> str:
            return f"duplicate id {show_value(id_list[i])} (first on line {first_line[id_list[i]]})"

        _add(reasons, dup_rows, duplicate)
    return ids


def _audience_columns(
    df: pl.DataFrame, schema: ProfileSchema, rows: IntArray, ids: pl.Series, reasons: Reasons
) -> dict[str, pl.Series]:
    """The schema's columns for the rows of one audience, converted by one query
    (`convert_frame`); the bad values noted, in field order within a row."""
    whole = rows.size == df.height
    sub = df if whole else df[rows]
    planned = {
        fl.name: plan_column(sub[fl.name], fl)
        for fl in schema.fields.values()
        if fl.name != "id" and fl.name in sub.columns
    }
    out = convert_frame(planned, schema.fields)
    cols: dict[str, pl.Series] = {}
    for fl in schema.fields.values():
        if fl.name == "id":
            cols["id"] = ids if whole else ids.gather(rows)
        elif fl.name in planned:
            cols[fl.name] = out[fl.name]
        else:
            cols[fl.name] = pl.Series(fl.name, [None] * rows.size, dtype=polars_dtype(fl.type))
    flags = [c for c in out.columns if c not in cols]
    if not flags:
        return cols
    any_bad = out.select(pl.any_horizontal(flags)).to_series()
    local = np.flatnonzero(bool_np(any_bad))
    if local.size == 0:
        return cols
    bad_rows = out.select(flags)[local]
    for fl in schema.fields.values():
        flag = bad_column(fl.name)
        if flag not in bad_rows.columns:
            continue
        hit = bool_np(bad_rows[flag])
        if not hit.any():
            continue
        where = local[hit]
        explain = planned[fl.name][1].explain
        shown = _values(sub[fl.name].gather(where))
        for j, v in zip(where.tolist(), shown, strict=True):
            reasons.setdefault(int(rows[j]), []).append(f"{fl.name}: {explain(v)}")
    return cols


def _values(raw: pl.Series) -> list[object]:
    """A column's values as Python objects, for the reasons; a date Python cannot hold
    (year 0, which Parquet can) as polars writes it."""
    try:
        return raw.to_list()
    except ValueError:
        return raw.cast(pl.String).to_list()


def to_batch(
    raw: Raw,
    schemas: SchemaSet,
    forced: Audience | None,
    fname: str,
    seen: SeenIds | None = None,
    warned: set[str] | None = None,
) -> ProfileBatch:
    """Validate and convert a file's rows; rows with any reason are skipped and reported.

    For one batch of a streamed file, `seen` carries the ids of the batches before it
    and `warned` the columns they warned about."""
    df = raw.df
    n = df.height
    audiences = [forced] if forced is not None else list(Audience)
    warnings = [*raw.warnings, *_check_columns(df.columns, schemas, forced, fname, warned)]

    reasons: Reasons = {i: [r] for i, r in raw.row_errors.items()}
    pre_bad = np.zeros(n, dtype=np.bool_)
    if raw.row_errors:
        pre_bad[np.fromiter(raw.row_errors, dtype=np.int64)] = True
    code = _kind_codes(df, audiences, forced, pre_bad, reasons, fname)
    ids = _checked_ids(df, raw.lines, pre_bad, reasons, fname, seen)
    converted: dict[Audience, tuple[IntArray, dict[str, pl.Series]]] = {}
    for ai, a in enumerate(audiences):
        rows = np.flatnonzero(code == ai)
        converted[a] = (rows, _audience_columns(df, schemas[a], rows, ids, reasons))

    bad_rows = np.array(sorted(reasons), dtype=np.int64)
    frames: dict[Audience, pl.DataFrame] = {}
    for a, (rows, cols) in converted.items():
        frame = pl.DataFrame(list(cols.values()))
        if bad_rows.size and rows.size:
            keep = ~np.isin(rows, bad_rows)
            if not keep.all():
                frame = frame.filter(pl.Series(keep))
        frames[a] = frame

    id_values = ids.to_list() if bad_rows.size else []
    errors = [
        RowError(
            fname, int(raw.lines[i]), "; ".join(reasons[i]), id_values[i] if id_values else None
        )
        for i in bad_rows.tolist()
    ]
    return ProfileBatch(frames, errors, warnings, n)
