"""The `slipway` command line (§10). Every command exits 0 on success, 1 on failure, 2 on a usage
error (or when `detect` finds nothing to build)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from libs.settings import Settings

app = typer.Typer(
    name="slipway",
    help="Self-hosted deployments: git push to a health-checked container behind Caddy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def up(
    data_dir: Annotated[Path | None, typer.Option(help="Where state is kept.")] = None,
    gateway_port: Annotated[int | None, typer.Option(help="Gateway port.")] = None,
    api_port: Annotated[int | None, typer.Option(help="Query API port.")] = None,
    edge_port: Annotated[int | None, typer.Option(help="Caddy edge port for apps.")] = None,
    nats_port: Annotated[int | None, typer.Option(help="Embedded NATS port.")] = None,
    base_domain: Annotated[str | None, typer.Option(help="Apps at <env>.<project>.<this>.")] = None,
) -> None:
    """Start Slipway on this machine: NATS, Caddy and every service.

    Example: slipway up --data-dir .slipway
    """
    from slipway.up import up as run_up

    overrides: dict[str, object] = {
        k: v
        for k, v in {
            "data_dir": data_dir,
            "gateway_port": gateway_port,
            "api_port": api_port,
            "edge_port": edge_port,
            "nats_port": nats_port,
            "base_domain": base_domain,
        }.items()
        if v is not None
    }
    raise typer.Exit(run_up(Settings().model_copy(update=overrides)))


@app.command()
def detect(
    path: Annotated[Path, typer.Argument(help="A checkout to inspect.")],
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    preset: Annotated[str | None, typer.Option(help="Force a preset.")] = None,
    app_dir: Annotated[str | None, typer.Option(help="Monorepo sub-directory.")] = None,
) -> None:
    """Show what a build would do with PATH, without building it (exit 2 when nothing matches).

    Example: slipway detect ./my-app --json
    """
    from services.build.detect_cli import detect_report

    code, text = detect_report(path, json_out, preset=preset, app_dir=app_dir)
    typer.echo(text, err=code != 0 and not json_out)
    raise typer.Exit(code)


def main() -> None:
    app()
