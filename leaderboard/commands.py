"""`bench` commands that read results: the leaderboard (and, as they land, plots and the static site).

Registered on the main `bench` app by `harness/cli.py`; heavy imports stay inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the result-reading commands to `app`."""
    app.command()(leaderboard)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def leaderboard(
    task: Annotated[str | None, typer.Option(help="Only this task.")] = None,
    out: Annotated[Path, typer.Option(help="Results directory.")] = Path("runs"),
    fmt: Annotated[str, typer.Option("--format", help="table, markdown, csv or json.")] = "table",
) -> None:
    """The finished runs as a table, best first per task and budget."""
    from lampbench.leaderboard.table import load_runs, render

    try:
        frame = load_runs(out, task=task)
        typer.echo(render(frame, fmt))
    except ValueError as e:  # includes DataError and UnknownTask
        _fail(str(e))
