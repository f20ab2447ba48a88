"""What every command module shares: the consoles, exit codes, the options several
commands take, the date parser and `user_errors`, error printing and the progress bar.

Light on purpose: every command module imports it at start-up, so nothing here may
pull in the database, the task queue or the matcher.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from zhida.clock import today
from zhida.errors import ErrorList, ZhidaError

if TYPE_CHECKING:
    from rich.progress import Progress

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)

#: exit code: finished, but some profile rows were bad and skipped, or some columns ignored
EXIT_BAD_ROWS = 3

F = TypeVar("F", bound=Callable[..., Any])

PoliciesOpt = Annotated[
    list[Path], typer.Option("--policies", "-p", help="Policy file or pack folder (repeatable).")
]
ProfilesOpt = Annotated[Path, typer.Option("--profiles", help="CSV, JSON Lines or Parquet.")]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Evaluation date (default: today in Asia/Shanghai).")
]
KindOpt = Annotated[
    str | None,
    typer.Option("--kind", help="enterprise or citizen, when the file has no kind column."),
]


def parse_date(text: str | None) -> dt.date:
    """The `--as-of` date; today in Asia/Shanghai when it is not given."""
    if text is None:
        return today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected a date YYYY-MM-DD, got '{text}'") from None


def print_errors(errors: Sequence[ZhidaError | object], err: Console) -> None:
    """One line per error (an ErrorList is unpacked); RowErrors print as FILE:LINE: ..."""
    for e in errors:
        for one in e.errors if isinstance(e, ErrorList) else [e]:
            err.print(str(one), markup=False)


def user_errors(fn: F) -> F:
    """Print a ZhidaError as its message and exit 1: never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ZhidaError as err:
            print_errors([err], err_console)
            raise typer.Exit(1) from None
        except BrokenPipeError:
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bar(err: Console, total: int, label: str) -> Iterator[Progress | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        yield bar
