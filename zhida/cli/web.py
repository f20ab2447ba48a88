"""`zhida serve` (the web application) and `zhida login-link` (a sign-in link for it)."""

from __future__ import annotations

from typing import Annotated

import typer

from zhida.cli.support import err_console, out_console, user_errors
from zhida.errors import ZhidaError


@user_errors
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """The web application: webhooks, inbox, application forms (uvicorn)."""
    import uvicorn

    from zhida.api.app import create_app
    from zhida.api.logs import log_config
    from zhida.api.routes.webhooks import startup_note
    from zhida.settings import get_settings, require_real_secret

    require_real_secret(get_settings())
    note = startup_note(get_settings())
    if note:
        err_console.print(note, markup=False)
    uvicorn.run(create_app(), host=host, port=port, log_level="info", log_config=log_config())


@user_errors
def login_link(profile_id: Annotated[str, typer.Argument(help="Profile id.")]) -> None:
    """Print a short-lived signed login URL for one profile (stands in for single sign-on)."""
    from zhida.api.security import LOGIN_MAX_AGE, login_url
    from zhida.settings import get_settings
    from zhida.store.db import session_scope
    from zhida.store.profiles import get_profile

    settings = get_settings()
    with session_scope(settings.database_url) as session:
        if get_profile(session, profile_id) is None:
            raise ZhidaError(f"no profile '{profile_id}'")
    out_console.print(login_url(settings, profile_id), markup=False)
    err_console.print(f"valid for {LOGIN_MAX_AGE // 60} minutes, once", markup=False)
