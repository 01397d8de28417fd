"""`slipway deploy`, `deployments list|show`, `logs`, `rollback|cancel|pause|resume|stop`."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from slipway.client import Cli
from slipway.commands import JSON_HELP, cli_of, handled
from slipway.commands.projects import env_path
from slipway.follow import failure_reason, follow_deployment
from slipway.logview import log_text, stream_sse_logs
from slipway.output import console, fail, print_json, say, short_time, status_text, table, usage
from slipway.packing import static_upload
from slipway.render import show_record

deployments = typer.Typer(help="List and inspect deployments.", no_args_is_help=True)

FollowOpt = Annotated[
    bool, typer.Option("--follow", "-f", help="Show progress and logs until it ends.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help=JSON_HELP)]


def finish(cli: Cli, record: dict[str, Any], follow: bool, json_out: bool, what: str) -> None:
    """Print an accepted deployment; with --follow, watch it to the end (exit 1 unless deployed)."""
    if json_out and not follow:
        print_json(record)
        return
    dep_id = record.get("id")
    if not json_out:
        status = status_text(record.get("status"))
        say(Text.assemble(f"{what}: deployment {dep_id} (", status, ")"))
    if not follow:
        say(f"  follow it: slipway logs {dep_id} --follow")
        return
    final = asyncio.run(
        follow_deployment(
            # With --json, stdout carries only the final record; progress goes to stderr.
            cli,
            str(dep_id),
            console(stderr=json_out),
            poll_s=cli.poll_s,
            min_seq=record.get("seq"),
        )
    )
    if json_out:
        print_json(final)
    if final.get("status") != "completed":
        fail(f"deployment {dep_id} did not deploy — {failure_reason(final)}")
    if not json_out:
        say(f"deployed: {final.get('url') or final.get('deployment_url')}")


def deploy(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project name.")],
    environment: Annotated[str, typer.Argument(help="Environment name.")],
    branch: Annotated[str | None, typer.Option(help="Build this branch's head.")] = None,
    commit: Annotated[str | None, typer.Option(help="Build this exact commit.")] = None,
    image: Annotated[str | None, typer.Option(help="Deploy a registry image.")] = None,
    pull: Annotated[
        str | None, typer.Option(help="With --image: missing (default) or always.")
    ] = None,
    image_file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Upload a `docker save` archive."),
    ] = None,
    static: Annotated[
        Path | None,
        typer.Option(exists=True, help="Upload a directory (packed) or .tar.gz/.tgz/.zip."),
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Repeat-safe key (default: a fresh one).")
    ] = None,
    follow: FollowOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Deploy: the environment's branch (default), a commit, an image or static files.

    Example: slipway deploy hello production --static ./site --follow
    """
    chosen = [
        name
        for name, given in (
            ("--branch/--commit", branch or commit),
            ("--image", image),
            ("--image-file", image_file),
            ("--static", static),
        )
        if given
    ]
    if len(chosen) > 1:
        usage(f"give only one of {', '.join(chosen)}")
    if pull is not None and image is None:
        usage("--pull goes with --image")
    if pull is not None and pull not in ("missing", "always"):
        usage(f"--pull is missing or always, not {pull!r}")
    cli = cli_of(ctx)
    gateway = cli.api("gateway")
    base = env_path(project, environment)
    headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
    if image is not None:
        body = {"image_ref": image, **({"pull": pull} if pull else {})}
        resp = gateway.request("POST", f"{base}/deploy/image", json=body, headers=headers)
    elif image_file is not None:
        with image_file.open("rb") as fh:  # httpx streams the file part from disk
            files = {"file": (image_file.name, fh, "application/x-tar")}
            resp = gateway.request(
                "POST", f"{base}/deploy/image-upload", files=files, headers=headers
            )
    elif static is not None:
        with static_upload(static) as (path, media), path.open("rb") as fh:
            files = {"file": (path.name, fh, media)}
            resp = gateway.request("POST", f"{base}/deploy/static", files=files, headers=headers)
    else:
        body = {k: v for k, v in (("branch", branch), ("commit", commit)) if v}
        resp = gateway.request("POST", f"{base}/deployments", json=body, headers=headers)
    verb = "accepted" if resp.status_code == 202 else "already requested"
    finish(cli, resp.json(), follow, json_out, verb)


@deployments.command("list")
@handled
def list_deployments(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    environment: Annotated[str | None, typer.Option("--environment", "-e")] = None,
    status: Annotated[str | None, typer.Option(help="e.g. failed, or running,deploying")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="git, manual, image, …")] = None,
    branch: Annotated[str | None, typer.Option()] = None,
    commit: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601 time.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    cursor: Annotated[str | None, typer.Option(help="From a previous page.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List deployments, newest first.

    Example: slipway deployments list -p hello --status failed
    """
    params = {
        "project": project, "environment": environment, "status": status, "type": type_,
        "branch": branch, "commit": commit, "since": since, "until": until, "limit": limit,
        "cursor": cursor,
    }  # fmt: skip
    page = cli_of(ctx).api("api").get("/api/deployments", params)
    if json_out:
        print_json(page)
        return
    items = page.get("items", [])
    if not items:
        say("no deployments match")
        return
    table(
        ["ID", "PROJECT", "ENV", "TYPE", "STATUS", "SOURCE", "CREATED"],
        (
            [
                d.get("id"),
                d.get("project"),
                d.get("environment"),
                d.get("type"),
                status_text(d.get("status")),
                source_text(d.get("source") or {}),
                short_time(d.get("created_at")),
            ]
            for d in items
        ),
    )
    if page.get("next_cursor"):
        typer.echo(f"(more: --cursor {page['next_cursor']})", err=True)


def source_text(source: dict[str, Any]) -> str:
    if source.get("image_ref"):
        return str(source["image_ref"])
    if source.get("bundle"):
        return "static bundle"
    sha = (source.get("commit_sha") or "")[:7]
    branch = source.get("branch") or ""
    return f"{branch}@{sha}" if branch and sha else (branch or sha or "-")


@deployments.command("show")
@handled
def show_deployment(
    ctx: typer.Context,
    deployment_id: Annotated[str, typer.Argument(metavar="ID")],
    json_out: JsonOpt = False,
) -> None:
    """Show a deployment: source, status, URL and every job.

    Example: slipway deployments show 0b6f2c1e-… --json
    """
    record = cli_of(ctx).api("api").get(f"/api/deployments/{deployment_id}")
    if json_out:
        print_json(record)
    else:
        show_record(record)


def logs(
    ctx: typer.Context,
    deployment_id: Annotated[str | None, typer.Argument(metavar="[ID]")] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Environment log.")] = None,
    environment: Annotated[str | None, typer.Option("--environment", "-e")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream until it ends.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Raw JSON lines.")] = False,
) -> None:
    """Print a deployment's log, or an environment's (crons, teardown) with -p and -e.

    Example: slipway logs 0b6f2c1e-… --follow
    """
    if deployment_id is not None and (project or environment):
        usage("give a deployment ID, or --project and --environment, not both")
    if deployment_id is None and not (project and environment):
        usage("give a deployment ID, or --project and --environment")
    path = (
        f"/api/deployments/{deployment_id}/logs"
        if deployment_id is not None
        else f"{env_path(str(project), str(environment))}/logs"
    )
    cli = cli_of(ctx)
    if follow:
        out = console()
        api = cli.async_api("api")

        async def run() -> None:
            async with api.client() as client:
                await stream_sse_logs(api, client, path, out.print, reconnect_s=cli.poll_s)

        asyncio.run(run())
        return
    with cli.api("api").lines(path) as lines:
        for line in lines:
            if json_out:
                typer.echo(line)
            else:
                say(log_text(line))


def _post(cli: Cli, verb: str, deployment_id: str) -> tuple[dict[str, Any], bool]:
    headers = {"Idempotency-Key": str(uuid.uuid4())} if verb == "rollback" else {}
    resp = cli.api("gateway").request(
        "POST", f"/api/deployments/{deployment_id}/{verb}", json={}, headers=headers
    )
    return resp.json(), resp.status_code == 202


def _said(verb: str, deployment_id: str, record: dict[str, Any], changed: bool) -> None:
    status = status_text(record.get("status"))
    again = "" if changed else " (it already was)"
    say(Text.assemble(f"{verb}: deployment {deployment_id} is ", status, again))


def lifecycle_command(verb: str, summary: str, example: str) -> Any:
    if verb in ("rollback", "resume"):

        def followable(
            ctx: typer.Context,
            deployment_id: Annotated[str, typer.Argument(metavar="ID")],
            follow: FollowOpt = False,
            json_out: JsonOpt = False,
        ) -> None:
            cli = cli_of(ctx)
            record, changed = _post(cli, verb, deployment_id)
            if verb == "rollback":
                finish(cli, record, follow, json_out, f"rollback of {deployment_id}")
            elif follow:
                finish(cli, record, True, json_out, "resumed")
            elif json_out:
                print_json(record)
            else:
                _said(verb, deployment_id, record, changed)

        command: Any = followable
    else:

        def plain(
            ctx: typer.Context,
            deployment_id: Annotated[str, typer.Argument(metavar="ID")],
            json_out: JsonOpt = False,
        ) -> None:
            record, changed = _post(cli_of(ctx), verb, deployment_id)
            if json_out:
                print_json(record)
            else:
                _said(verb, deployment_id, record, changed)

        command = plain
    command.__doc__ = f"{summary}\n\nExample: {example}"
    command.__name__ = verb
    return handled(command)


LIFECYCLE = (
    ("rollback", "Deploy an earlier deployment's image and config again.", "slipway rollback ID"),
    ("cancel", "Cancel a deployment that has not deployed yet.", "slipway cancel ID"),
    ("pause", "Pause: no new job starts; a live app shows a maintenance page.", "slipway pause ID"),
    ("resume", "Resume a paused deployment.", "slipway resume ID --follow"),
    ("stop", "Stop a deployment (its containers go, its route shows 503).", "slipway stop ID"),
)
