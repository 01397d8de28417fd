"""`slipway trigger`: deploy through NATS, the way a CI system without HTTP access to the gateway
would (publish on `triggers.deploy`, wait for the result)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import typer
from pydantic import ValidationError

from libs.triggers import DeployTrigger
from slipway.commands import JSON_HELP, cli_of
from slipway.commands.deployments import finish
from slipway.output import fail, print_json, say, usage
from slipway.triggers import NatsTriggerBus, TriggerBus


def trigger(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project name.")],
    environment: Annotated[str, typer.Argument(help="Environment name.")],
    branch: Annotated[str | None, typer.Option(help="Build this branch's head.")] = None,
    commit: Annotated[str | None, typer.Option(help="Build this exact commit.")] = None,
    image: Annotated[str | None, typer.Option(help="Deploy a registry image instead.")] = None,
    pull: Annotated[str | None, typer.Option(help="With --image: missing or always.")] = None,
    trigger_id: Annotated[
        str | None, typer.Option(help="Repeat-safe id (A-Z a-z 0-9 _ -); default: fresh.")
    ] = None,
    requested_by: Annotated[str | None, typer.Option(help="Who asks, for the audit log.")] = None,
    nats_url: Annotated[
        str | None,
        typer.Option("--nats", help="NATS URL (default SLIPWAY_NATS_URL, else the local one)."),
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for the result.")] = 30,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Then follow it.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Publish a deploy trigger on NATS (`triggers.deploy`) and wait for the gateway's answer.

    Example: slipway trigger hello production --commit 3f2a9c1 --trigger-id ci-run-812
    """
    try:
        request = DeployTrigger(
            trigger_id=trigger_id or uuid.uuid4().hex,
            project=project,
            environment=environment,
            branch=branch,
            commit=commit,
            image_ref=image,
            pull=pull,  # type: ignore[arg-type,unused-ignore]
            requested_by=requested_by,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        usage(f"{where}: {first['msg']}")
    if image is not None and (branch or commit):
        usage("give --image or --branch/--commit, not both")
    cli = cli_of(ctx)
    settings = cli.settings
    url = nats_url or settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"
    bus: TriggerBus = cli.trigger_bus or NatsTriggerBus(url)
    result = asyncio.run(bus.publish_and_wait(request, timeout))
    if json_out and not follow:
        print_json(result.model_dump(mode="json"))
    if not result.accepted or result.deployment_id is None:
        fail(f"trigger {result.trigger_id} refused ({result.status}): {result.reason}")
    if follow:
        record = cli.api("api").get(
            f"/api/deployments/{result.deployment_id}", {"min_seq": result.seq}
        )
        finish(cli, record, True, json_out, f"trigger {result.trigger_id}")
    elif not json_out:
        again = "" if result.created else " (made by an earlier delivery)"
        say(f"trigger {result.trigger_id}: deployment {result.deployment_id}{again}")
        say(f"  follow it: slipway logs {result.deployment_id} --follow")
