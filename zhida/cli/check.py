"""`zhida check`: load policies, report every error, run the tests inside them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from zhida.cli.support import err_console, out_console, print_errors, user_errors
from zhida.errors import PositionedError, ZhidaError


@user_errors
def check(paths: Annotated[list[Path], typer.Argument(help="Policy files or packs.")]) -> None:
    """Validate policies and run the tests written inside them."""
    raise typer.Exit(run_check(paths, out_console, err_console))


def run_check(paths: list[Path], out: Console, err: Console) -> int:
    from zhida.channels.check import check_messages
    from zhida.matcher.policy_tests import run_policy_tests
    from zhida.rules.loader import load_pack

    pack = load_pack(list(paths))
    print_errors(pack.errors, err)
    tests = failed = 0
    bad_messages = 0
    for policy in pack.policies:
        problems = check_messages(policy)
        for problem in problems:
            err.print(str(problem), markup=False)
        message_errors = sum(p.severity == "error" for p in problems)
        bad_messages += message_errors > 0
        outcomes = run_policy_tests(policy)
        tests += len(outcomes)
        bad = [o for o in outcomes if not o.passed]
        failed += len(bad)
        print_errors(
            [
                PositionedError(
                    f"test '{o.test.name}' failed: " + "; ".join(o.problems), o.test.loc
                )
                for o in bad
            ],
            err,
        )
        status = [f"{len(bad)} of {len(outcomes)} tests failed"] if bad else []
        status += ["SMS template error"] if message_errors else []
        out.print(
            f"{policy.path}: {policy.id}: {', '.join(status) or 'ok'} ({len(outcomes)} tests)",
            markup=False,
        )
    files = len(pack.policies) + len(pack.errors)
    summary = (
        f"{len(pack.policies) + len(pack.errors)} policies checked, "
        f"{len(pack.errors) + bad_messages} with errors; "
        f"{tests} tests, {failed} failed"
    )
    if pack.errors or failed or bad_messages or files == 0:
        if files == 0:
            print_errors([ZhidaError("no policy files found")], err)
        err.print(summary, markup=False)
        return 1
    out.print(summary, markup=False)
    return 0
