"""`slipway projects create|list`, `slipway env set`, `slipway vars set`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from slipway.client import Refused
from slipway.commands import JSON_HELP, cli_of, handled
from slipway.output import print_json, say, short_time, table, usage

projects = typer.Typer(help="Create and list projects.", no_args_is_help=True)
env = typer.Typer(help="Configure an environment of a project.", no_args_is_help=True)
variables = typer.Typer(
    help="Set an environment's variables (stored encrypted; only names are ever shown).",
    no_args_is_help=True,
)

# The settings of an environment (`PUT …/environments/{env}` replaces all of them).
ENV_FIELDS = (
    "branch", "tags", "auto_deploy", "policy", "health_path", "expected_status", "port",
    "replicas", "cpu", "memory", "app_dir", "preset", "domain",
)  # fmt: skip


def env_path(project: str, environment: str) -> str:
    return f"/api/projects/{project}/environments/{environment}"


def parse_env_spec(spec: str) -> dict[str, Any]:
    """`production:main` -> {"name": "production", "branch": "main"}; `staging` -> {"name": …}."""
    name, sep, branch = spec.partition(":")
    if not name or (sep and not branch):
        usage(f"--env takes NAME or NAME:BRANCH, got {spec!r}")
    return {"name": name, "branch": branch} if branch else {"name": name}


@projects.command("create")
@handled
def create_project(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Project name: a lower-case DNS label.")],
    repo: Annotated[
        str | None, typer.Option(help="Git repository: https://, ssh://, git@host:path or a path.")
    ] = None,
    webhook_secret: Annotated[
        str | None, typer.Option(help="Secret that signs GitHub/GitLab webhooks.")
    ] = None,
    envs: Annotated[
        list[str] | None,
        typer.Option("--env", help="NAME or NAME:BRANCH; repeatable. Default: production:main."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Create a project and its environments.

    Example: slipway projects create hello --repo https://example.com/hello.git --env prod:main
    """
    cli = cli_of(ctx)
    body: dict[str, Any] = {
        "name": name,
        "environments": [parse_env_spec(s) for s in (envs or ["production:main"])],
    }
    if repo is not None:
        body["repo_url"] = repo
    if webhook_secret is not None:
        body["webhook_secret"] = webhook_secret
    resp = cli.api("gateway").request("POST", "/api/projects", json=body)
    record = resp.json()
    if json_out:
        print_json(record)
        return
    envs_text = ", ".join(
        f"{e.get('name')} ← {e['branch']}" if e.get("branch") else str(e.get("name"))
        for e in record.get("environments", [])
    )
    verb = "created" if resp.status_code == 201 else "unchanged:"
    say(f"{verb} project {record.get('name', name)} (environments: {envs_text or 'none'})")
    gateway = cli.url("gateway")
    say(f"  webhooks: {gateway}/webhooks/github/{name} · {gateway}/webhooks/gitlab/{name}")


@projects.command("list")
@handled
def list_projects(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """List projects and their environments.

    Example: slipway projects list --json
    """
    items = list(cli_of(ctx).api("api").pages("/api/projects"))
    if json_out:
        print_json(items)
        return
    if not items:
        say("no projects yet: slipway projects create NAME")
        return
    table(
        ["NAME", "REPOSITORY", "ENVIRONMENTS", "CREATED"],
        (
            [
                p.get("name"),
                p.get("repo_url") or "-",
                ", ".join(str(e.get("name")) for e in p.get("environments", [])) or "-",
                short_time(p.get("created_at")),
            ]
            for p in items
        ),
    )


@env.command("set")
@handled
def set_environment(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project name.")],
    environment: Annotated[str, typer.Argument(help="Environment name (created if new).")],
    branch: Annotated[str | None, typer.Option(help="Branch whose pushes deploy.")] = None,
    tags: Annotated[bool | None, typer.Option("--tags/--no-tags", help="Tags deploy.")] = None,
    auto_deploy: Annotated[
        bool | None, typer.Option("--auto-deploy/--no-auto-deploy", help="Deploy on push.")
    ] = None,
    policy: Annotated[str | None, typer.Option(help="supersede (default) or queue.")] = None,
    health_path: Annotated[str | None, typer.Option(help="Health probe path.")] = None,
    expected_status: Annotated[int | None, typer.Option(help="Healthy status (else 2xx).")] = None,
    port: Annotated[int | None, typer.Option(help="Container port.")] = None,
    replicas: Annotated[int | None, typer.Option(help="Container replicas.")] = None,
    cpu: Annotated[float | None, typer.Option(help="CPU limit in cores.")] = None,
    memory: Annotated[str | None, typer.Option(help="Memory limit, e.g. 512m.")] = None,
    app_dir: Annotated[str | None, typer.Option(help="Monorepo sub-directory.")] = None,
    preset: Annotated[str | None, typer.Option(help="Force a build preset.")] = None,
    domain: Annotated[str | None, typer.Option(help="Extra custom domain.")] = None,
    unset: Annotated[
        list[str] | None, typer.Option(help="Reset a setting to its default; repeatable.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Create an environment or change some of its settings (the others are kept).

    Example: slipway env set hello staging --branch develop --replicas 2
    """
    given = {
        "branch": branch, "tags": tags, "auto_deploy": auto_deploy, "policy": policy,
        "health_path": health_path, "expected_status": expected_status, "port": port,
        "replicas": replicas, "cpu": cpu, "memory": memory, "app_dir": app_dir,
        "preset": preset, "domain": domain,
    }  # fmt: skip
    for name in unset or []:
        key = name.replace("-", "_")
        if key not in ENV_FIELDS:
            usage(f"--unset {name}: not a setting (one of {', '.join(ENV_FIELDS)})")
        if given.get(key) is not None:
            usage(f"--unset {name} and --{name.replace('_', '-')} contradict each other")
    cli = cli_of(ctx)
    path = env_path(project, environment)
    try:
        current = cli.api("api").get(path)
    except Refused as exc:
        if exc.status != 404:
            raise
        current = {}
    body = {k: current[k] for k in ENV_FIELDS if current.get(k) is not None}
    body.update({k: v for k, v in given.items() if v is not None})
    for name in unset or []:
        body.pop(name.replace("-", "_"), None)
    record = cli.api("gateway").json("PUT", path, json=body)
    if json_out:
        print_json(record)
        return
    shown = ", ".join(f"{k}={record[k]}" for k in ENV_FIELDS if record.get(k) is not None)
    say(f"{project}/{environment}: {shown or 'defaults'}")
    if record.get("url"):
        say(f"  url: {record['url']}")


@variables.command("set")
@handled
def set_variables(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project name.")],
    environment: Annotated[str, typer.Argument(help="Environment name.")],
    pairs: Annotated[list[str] | None, typer.Argument(help="KEY=VALUE pairs.")] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace all variables (else merge).")
    ] = False,
    unset: Annotated[list[str] | None, typer.Option(help="Remove a variable; repeatable.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Set variables of an environment; they reach containers on the next deployment.

    Example: slipway vars set hello production DATABASE_URL=postgres://db/app DEBUG=0
    """
    values: dict[str, str | None] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            usage(f"expected KEY=VALUE, got {pair!r}")
        values[key] = value
    if unset and replace:
        usage("--unset has no meaning with --replace (replace drops every name not given)")
    for key in unset or []:
        values[key] = None
    if not values and not replace:
        usage("give KEY=VALUE pairs or --unset KEY (or --replace alone to remove every variable)")
    method = "PUT" if replace else "PATCH"
    path = env_path(project, environment) + "/variables"
    record = cli_of(ctx).api("gateway").json(method, path, json={"variables": values})
    if json_out:
        print_json(record)
        return
    names = record.get("variables") or []
    say(f"{project}/{environment}: variables {', '.join(names) or '(none)'}")
    say("  (values are stored encrypted; the next deployment uses them)")
