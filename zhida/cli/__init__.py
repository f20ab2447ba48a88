"""The `zhida` command line (Typer): `app` and `main`, one module per command group."""

from zhida.cli.main import app, main

__all__ = ["app", "main"]
