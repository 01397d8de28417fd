"""Printing for the CLI: JSON for machines (`--json`), rich tables and lines for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from slipway.client import CliError, one_line

EXIT_FAILURE = 1
EXIT_USAGE = 2

STATUS_STYLES = {
    "completed": "green",
    "ready": "green",
    "success": "green",
    "deploying": "cyan",
    "running": "cyan",
    "pending": "dim",
    "paused": "yellow",
    "skipped": "dim",
    "failed": "red",
    "failure": "red",
    "cancelled": "yellow",
    "stopped": "dim",
}


def console(*, stderr: bool = False) -> Console:
    """A console on the current streams (made per call: tests swap sys.stdout)."""
    stream = sys.stderr if stderr else sys.stdout
    # Piped output keeps long ids on one line rather than folding them at 80 columns.
    width = None if stream.isatty() else 200
    return Console(file=stream, width=width, highlight=False, soft_wrap=not stream.isatty())


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 1."""
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(EXIT_FAILURE)


def usage(message: str) -> NoReturn:
    """A usage error: exit 2, like typer's own."""
    typer.echo(f"usage error: {one_line(message)}", err=True)
    raise typer.Exit(EXIT_USAGE)


def status_text(status: str | None) -> Text:
    value = status or "-"
    return Text(value, style=STATUS_STYLES.get(value, ""))


def short_time(value: str | None) -> str:
    """`2024-05-01T12:00:00.123456Z` -> `2024-05-01 12:00:00`."""
    if not value:
        return "-"
    return value.replace("T", " ")[:19]


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    grid = Table(show_edge=False, box=None, pad_edge=False, header_style="bold")
    for name in columns:
        grid.add_column(name, no_wrap=True)
    for row in rows:
        grid.add_row(*[c if isinstance(c, Text) else Text(str(c)) for c in row])
    console().print(grid)


def say(text: str | Text) -> None:
    console().print(text if isinstance(text, Text) else Text(text))


def guarded(error: CliError) -> NoReturn:
    fail(str(error))
