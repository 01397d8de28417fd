"""`slipway events show|export`, `audit verify`, `state ID --as-of`, `projections rebuild`.

All but the rebuild go through the query API (§8), so a user needs HTTP access only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import inspect
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from slipway.client import CliError, Refused
from slipway.commands import JSON_HELP, cli_of, handled
from slipway.output import fail, print_json, say, short_time, table, usage
from slipway.render import show_record
from slipway.verify import verify_lines

events = typer.Typer(help="Read the event log (the audit trail).", no_args_is_help=True)
audit = typer.Typer(help="Check the event log has not been tampered with.", no_args_is_help=True)
projections = typer.Typer(help="Maintain the read model.", no_args_is_help=True)

AGGREGATES = ("deployment", "environment", "project")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def guess_aggregate(aggregate_id: str) -> str:
    """A uuid is a deployment, `<project>_<env>` an environment, a bare name a project."""
    if _UUID.match(aggregate_id.lower()):
        return "deployment"
    return "environment" if "_" in aggregate_id else "project"


def export_params(
    aggregate: str | None, aggregate_id: str | None, since: str | None, until: str | None
) -> dict[str, Any]:
    if aggregate is not None and aggregate not in AGGREGATES:
        usage(f"--aggregate is one of {', '.join(AGGREGATES)}, not {aggregate!r}")
    if aggregate_id is not None and aggregate is None:
        aggregate = guess_aggregate(aggregate_id)
    return {"aggregate": aggregate, "id": aggregate_id, "since": since, "until": until}


@events.command("show")
@handled
def show_events(
    ctx: typer.Context,
    aggregate_id: Annotated[str, typer.Argument(metavar="AGGREGATE_ID")],
    aggregate: Annotated[
        str | None, typer.Option(help="deployment, environment or project (else guessed).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="The exported JSON lines.")] = False,
) -> None:
    """Show every event of one deployment, environment (`<project>_<env>`) or project.

    Example: slipway events show 0b6f2c1e-… --json
    """
    params = export_params(aggregate, aggregate_id, None, None)
    count = 0
    rows: list[list[Any]] = []
    with cli_of(ctx).api("api").lines("/api/events", params) as lines:
        for line in lines:
            count += 1
            if json_out:
                typer.echo(line)
                continue
            obj = json.loads(line)
            data = json.dumps(obj.get("data"), separators=(",", ":"), ensure_ascii=False)
            rows.append(
                [
                    obj.get("seq"),
                    short_time(obj.get("occurred_at")),
                    obj.get("type"),
                    str(obj.get("hash") or "")[:12],
                    data if len(data) <= 80 else data[:79] + "…",
                ]
            )
    if count == 0:
        fail(f"no events for {params['aggregate']} {aggregate_id!r}")
    if not json_out:
        table(["SEQ", "OCCURRED", "EVENT", "HASH", "DATA"], rows)


@events.command("export")
@handled
def export_events(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="Server time, ISO 8601, inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help="Server time, ISO 8601, exclusive.")] = None,
    aggregate: Annotated[str | None, typer.Option(help="Only this kind of aggregate.")] = None,
    aggregate_id: Annotated[str | None, typer.Option("--id", help="Only this aggregate.")] = None,
    file: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Export the event log as JSON lines (each with its exact stored bytes, for audits).

    Example: slipway events export --since 2024-05-01T00:00:00Z --file may.jsonl
    """
    params = export_params(aggregate, aggregate_id, since, until)
    count = 0
    with contextlib.ExitStack() as stack:
        out: IO[str] = sys.stdout
        if file is not None:
            try:
                out = stack.enter_context(file.open("w", encoding="utf-8"))
            except OSError as exc:
                raise CliError(f"cannot write {file}: {exc.strerror}") from None
        with cli_of(ctx).api("api").lines("/api/events", params) as lines:
            for line in lines:
                out.write(line + "\n")
                count += 1
    where = f" to {file}" if file is not None else ""
    typer.echo(f"exported {count} events{where}", err=True)


def _file_lines(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as fh:
            yield from fh
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


@audit.command("verify")
@handled
def verify(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Verify an export file.")
    ] = None,
    partial: Annotated[
        bool, typer.Option("--partial", help="The file is a filtered export (no 1..n check).")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Verify every hash chain and that no event is missing (exit 1 at the first break).

    Example: slipway audit verify --file export.jsonl
    """
    if file is not None:
        outcome = verify_lines(_file_lines(file), complete=not partial)
    else:
        if partial:
            usage("--partial goes with --file")
        api = cli_of(ctx).api("api")
        last_seq = _stream_last_seq(api.get("/healthz"))
        with api.lines("/api/events") as lines:
            outcome = verify_lines(list(lines), complete=True, last_seq=last_seq)
    if json_out:
        print_json({"ok": outcome.ok, "summary": outcome.summary, **outcome.details})
    if not outcome.ok:
        fail(outcome.summary)
    if not json_out:
        say(outcome.summary)


def _stream_last_seq(health: Any) -> int | None:
    """The event stream's last sequence, if the query API's /healthz tells it."""
    if not isinstance(health, dict):
        return None
    for holder in (health.get("projector"), health):
        if isinstance(holder, dict) and isinstance(holder.get("stream_last_seq"), int):
            return int(holder["stream_last_seq"])
    return None


def state(
    ctx: typer.Context,
    deployment_id: Annotated[str, typer.Argument(metavar="ID")],
    as_of: Annotated[
        str | None, typer.Option(help="Fold up to this server time (ISO 8601).")
    ] = None,
    as_of_seq: Annotated[
        int | None, typer.Option(min=1, help="Fold up to this stream sequence.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Show a deployment as it was at a time or a sequence, folded from its events.

    Example: slipway state 0b6f2c1e-… --as-of 2024-05-01T12:00:00Z
    """
    if as_of is not None and as_of_seq is not None:
        usage("give --as-of or --as-of-seq, not both")
    params = {"as_of": as_of, "as_of_seq": as_of_seq}
    record = cli_of(ctx).api("api").get(f"/api/deployments/{deployment_id}/state", params)
    if json_out:
        print_json(record)
    else:
        show_record(record)


@projections.command("rebuild")
@handled
def rebuild(ctx: typer.Context) -> None:
    """Rebuild the read model from the first event, then swap it in (run where the projector runs).

    Example: slipway projections rebuild
    """
    try:
        support = importlib.import_module("services.projector.cli_support")
    except ImportError:
        support = None
    run = None
    for name in ("rebuild", "rebuild_projections"):
        run = getattr(support, name, None) if support is not None else None
        if callable(run):
            break
    if not callable(run):
        fail("projections rebuild is not available in this installation (no projector support)")
    try:
        result = run(cli_of(ctx).settings)
        if inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
    except Refused:
        raise
    except Exception as exc:  # an operator command: whatever went wrong, one line
        raise CliError(f"projections rebuild failed: {exc}") from None
    say(f"rebuilt the read model: {_describe(result)}")


async def _awaited(value: Any) -> Any:
    return await value


def _describe(result: Any) -> str:
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        fields = dataclasses.asdict(result)
        return ", ".join(f"{k}={v}" for k, v in fields.items())
    return str(result) if result is not None else "done"
