"""`zhida officers add|list|password|role|disable|enable|token`: the operator at the
machine manages officers (the console's admins do the same in the browser).

A password is never an argument (it would show in `ps` and the shell history): with
`--password` it is asked for twice on a terminal, or read as the first line of
standard input otherwise (`printf '%s\\n' "$PW" | zhida officers add ...`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from zhida.cli.support import out_console, user_errors

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from zhida.store.models import Officer

officers_app = typer.Typer(no_args_is_help=True, help="Officers, their passwords and API tokens.")

NameArg = Annotated[str, typer.Argument(help="Officer name (what they sign in with).")]
DaysOpt = Annotated[
    int | None, typer.Option("--token-days", min=1, help="The token expires after N days.")
]


def read_password() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\r\n")


@officers_app.command("add")
@user_errors
def officers_add(
    name: NameArg,
    role: Annotated[str, typer.Option("--role", help="author, approver or admin")] = "author",
    password: Annotated[
        bool, typer.Option("--password", help="Set a console password (asked, or stdin).")
    ] = False,
    token_days: DaysOpt = None,
) -> None:
    """Create an officer; prints the token once (stored hashed)."""
    secret = read_password() if password else None
    raise typer.Exit(run_officer_add(name, role, secret, token_days, out_console))


@officers_app.command("list")
@user_errors
def officers_list() -> None:
    """Every officer, their role, and whether they can sign in."""
    from rich.table import Table

    from zhida.publishing.officers import list_officers
    from zhida.store.db import session_scope

    table = Table("姓名", "角色", "状态", "密码", "令牌到期")
    with session_scope() as session:
        for o in list_officers(session):
            table.add_row(
                o.name,
                o.role,
                "启用" if o.active else "停用",
                "已设置" if o.password_hash else "未设置",
                o.token_expires_at.strftime("%Y-%m-%d") if o.token_expires_at else "不过期",
            )
    out_console.print(table)


@officers_app.command("password")
@user_errors
def officers_password(name: NameArg) -> None:
    """Set (or reset) an officer's console password; their console sessions end."""
    secret = read_password()

    def change(session: Session, officer: Officer) -> str:
        from zhida.api.officer_sessions import end_officer_sessions
        from zhida.publishing.officers import set_password

        set_password(session, officer, secret)
        end_officer_sessions(session, officer)
        return "password set; their console sessions ended"

    raise typer.Exit(_change(name, change, out_console))


@officers_app.command("role")
@user_errors
def officers_role(
    name: NameArg, role: Annotated[str, typer.Argument(help="author, approver or admin")]
) -> None:
    """Change an officer's role."""

    def change(session: Session, officer: Officer) -> str:
        from zhida.publishing.officers import set_role

        set_role(session, officer, role)
        return f"role is now {role}"

    raise typer.Exit(_change(name, change, out_console))


@officers_app.command("disable")
@user_errors
def officers_disable(name: NameArg) -> None:
    """Disable an officer: their token and console sessions stop working."""

    def change(session: Session, officer: Officer) -> str:
        from zhida.api.officer_sessions import end_officer_sessions
        from zhida.publishing.officers import set_active

        set_active(session, officer, False)
        end_officer_sessions(session, officer)
        return "disabled"

    raise typer.Exit(_change(name, change, out_console))


@officers_app.command("enable")
@user_errors
def officers_enable(name: NameArg) -> None:
    """Enable a disabled officer again."""

    def change(session: Session, officer: Officer) -> str:
        from zhida.publishing.officers import set_active

        set_active(session, officer, True)
        return "enabled"

    raise typer.Exit(_change(name, change, out_console))


@officers_app.command("token")
@user_errors
def officers_token(name: NameArg, token_days: DaysOpt = None) -> None:
    """A new API token for the officer (the old one stops working); printed once."""
    from zhida.publishing.officers import find_officer, rotate_token
    from zhida.store.db import session_scope

    with session_scope() as session:
        token = rotate_token(session, find_officer(session, name), token_days)
    out_console.print(f"officer {name}: new token (shown once):", markup=False)
    print(token)


def _change(name: str, change: Callable[[Session, Officer], str], out: Console) -> int:
    from zhida.publishing.officers import find_officer
    from zhida.store.db import session_scope

    with session_scope() as session:
        said = change(session, find_officer(session, name))
    out.print(f"officer {name}: {said}", markup=False)
    return 0


def run_officer_add(
    name: str, role: str, password: str | None, token_days: int | None, out: Console
) -> int:
    from zhida.publishing.officers import add_officer
    from zhida.store.db import session_scope

    with session_scope() as session:
        officer, token = add_officer(session, name, role, password=password, token_days=token_days)
        out.print(
            f"officer {officer.name} ({officer.role}) created; token (shown once):", markup=False
        )
        print(token)
    return 0
