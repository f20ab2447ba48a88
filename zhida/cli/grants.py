"""`zhida grants export POLICY --out FILE`: the confirmed 免申即享 grants of a policy, for
the paying department, each exported once (CSV or Parquet, by the file's suffix)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zhida.cli.support import out_console, user_errors
from zhida.errors import ZhidaError

grants_app = typer.Typer(no_args_is_help=True, help="免申即享 grants: confirmed, exported.")


@grants_app.command("export")
@user_errors
def export(
    policy_id: Annotated[str, typer.Argument(help="Policy id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="A .csv or .parquet file.")],
) -> None:
    """Write the confirmed grants not exported before, with their decision records."""
    from zhida.channels.grants import export_grants
    from zhida.clock import utcnow
    from zhida.settings import get_settings
    from zhida.store.db import session_scope

    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ZhidaError(f"{out}: the file must end in .csv or .parquet")
    with session_scope(get_settings().database_url) as session:
        count = export_grants(session, policy_id, out, utcnow())
    out_console.print(f"{count} grants of {policy_id} exported to {out}", markup=False)
