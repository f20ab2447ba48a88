"""`zhida db upgrade`: create or migrate the database."""

from __future__ import annotations

import typer

from zhida.cli.support import err_console, user_errors

db_app = typer.Typer(no_args_is_help=True, help="Database migrations.")


@db_app.command("upgrade")
@user_errors
def db_upgrade() -> None:
    """Create or migrate the database (ZHIDA_DATABASE_URL; default ./var/zhida.db)."""
    from zhida.settings import get_settings
    from zhida.store.db import upgrade

    url = get_settings().database_url
    upgrade(url)
    err_console.print(f"database is up to date: {url.split('@')[-1]}", markup=False)
