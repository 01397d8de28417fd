"""The CLI's command groups; `slipway.cli` assembles them. Shared plumbing lives here."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from slipway.client import Cli, CliError
from slipway.output import fail

F = TypeVar("F", bound=Callable[..., Any])

JSON_HELP = "Print JSON on stdout (machine-readable)."


def cli_of(ctx: typer.Context) -> Cli:
    obj = ctx.find_object(Cli)
    return obj if obj is not None else ctx.ensure_object(Cli)


def handled(fn: F) -> F:
    """Every user-visible failure becomes one `error: …` line on stderr and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CliError as exc:
            fail(str(exc))
        except OSError as exc:  # a local file the command needed (upload, export, token)
            where = f": {exc.filename}" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where}")

    return wrapper  # type: ignore[return-value]
