"""Small helpers shared by the command implementations."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from zhida.errors import ErrorList, ZhidaError


def print_errors(errors: Sequence[ZhidaError | object], err: Console) -> None:
    """One line per error (an ErrorList is unpacked); RowErrors print as FILE:LINE: ..."""
    for e in errors:
        for one in e.errors if isinstance(e, ErrorList) else [e]:
            err.print(str(one), markup=False)


@contextmanager
def progress_bar(err: Console, total: int, label: str) -> Iterator[Progress | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not err.is_terminal:
        yield None
        return
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        yield bar
