"""The `slipway` command line (§10). Every command exits 0 on success, 1 on failure (one `error:`
line on stderr), 2 on a usage error (or when `detect` finds nothing to build)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from libs.settings import Settings
from slipway.client import Cli
from slipway.commands import audit, deployments, handled, projects, trigger
from slipway.output import say

app = typer.Typer(
    name="slipway",
    help="Self-hosted deployments: git push to a health-checked container behind Caddy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    gateway: Annotated[
        str | None,
        typer.Option(
            envvar="SLIPWAY_GATEWAY_URL",
            help="Gateway URL (default http://127.0.0.1:<SLIPWAY_GATEWAY_PORT>).",
        ),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(
            envvar="SLIPWAY_API_URL",
            help="Query API URL (default http://127.0.0.1:<SLIPWAY_API_PORT>).",
        ),
    ] = None,
) -> None:
    """Slipway: deploy from git, an image or static files; every fact is an event.

    The token comes from SLIPWAY_ADMIN_TOKEN, else from <data dir>/token (written by `slipway up`).
    """
    cli = ctx.ensure_object(Cli)
    cli.gateway_url = gateway or cli.gateway_url
    cli.api_url = api or cli.api_url


@app.command(rich_help_panel="Run")
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


@app.command(rich_help_panel="Run")
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


SETUP, DEPLOY, INSPECT, AUDIT, OPS = "Set up", "Deploy", "Inspect", "Audit", "Operate"
app.add_typer(projects.projects, name="projects", rich_help_panel=SETUP)
app.add_typer(projects.env, name="env", rich_help_panel=SETUP)
app.add_typer(projects.variables, name="vars", rich_help_panel=SETUP)
app.command("deploy", rich_help_panel=DEPLOY)(handled(deployments.deploy))
for _verb, _summary, _example in deployments.LIFECYCLE:
    app.command(_verb, rich_help_panel=DEPLOY)(
        deployments.lifecycle_command(_verb, _summary, _example)
    )
app.command("trigger", rich_help_panel=DEPLOY)(handled(trigger.trigger))
app.add_typer(deployments.deployments, name="deployments", rich_help_panel=INSPECT)
app.command("logs", rich_help_panel=INSPECT)(handled(deployments.logs))
app.command("state", rich_help_panel=INSPECT)(handled(audit.state))
app.add_typer(audit.events, name="events", rich_help_panel=AUDIT)
app.add_typer(audit.audit, name="audit", rich_help_panel=AUDIT)
app.add_typer(audit.projections, name="projections", rich_help_panel=OPS)


@app.command(rich_help_panel=OPS)
@handled
def bootstrap(
    replicas: Annotated[int, typer.Option(min=1, max=5, help="Stream replicas (R3: 3).")] = 1,
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for NATS to answer.")] = 60,
) -> None:
    """Create the streams and buckets on SLIPWAY_NATS_URL and migrate DATABASE_URL, then exit.

    The compose stack runs it once before the services. Example: slipway bootstrap --replicas 3
    """
    from slipway.bootstrap import run_bootstrap

    say(asyncio.run(run_bootstrap(Settings(), replicas=replicas, wait_s=wait)))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
