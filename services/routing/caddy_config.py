"""The Caddy JSON config of a desired state, and the route files it reads per request. Pure.

Every Caddy config change is a reload, and a reload closes idle keep-alive connections and drops
fresh connections the old server accepted a moment before it stopped (golang/go#75591). So the
config names no upstream, root or mode: each site's handler reads them per request from small
files (`{file.*}` placeholders), and a switch, a rollback or a maintenance page is an atomic
rename of such a file. The config itself changes only when an environment appears, a custom domain
changes, a site needs more upstream slots, or more deployments are live than there are slots.

Layout under the routes directory, one directory per site:
- `<route id>/` for an environment (`env.<project>.<environment>`), matched by its host names;
- `slot.<n>/` for deployment hosts (`d-<short id>...`), matched by the host written in its `host`
  file (an empty file matches nothing).
Each holds `mode` (upstreams | static | maintenance), `u0`..`u<w-1>` (dial addresses, the site's
replicas repeated round-robin over its w upstream slots) and `root` (a static directory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.routing.desired import MAINTENANCE_HTML, DesiredState, SiteRoute, Target

SERVER = "slipway"
FALLBACK_ID = "slipway.fallback"
NOT_FOUND_BODY = "No app is deployed at this host.\n"
MIN_SLOTS = 16
SLOT_PREFIX = "slot."

MODE, HOST, ROOT = "mode", "host", "root"


def upstream_file(index: int) -> str:
    return f"u{index}"


@dataclass(frozen=True)
class Layout:
    """What the route files on disk already hold, so a new render keeps sites where they are."""

    slots: tuple[str, ...] = ()  # the host each deployment slot serves ("" = free)
    widths: dict[str, int] = field(default_factory=dict)  # site dir -> upstream files present


@dataclass(frozen=True)
class Rendered:
    config: dict[str, Any]
    files: dict[str, str]  # path relative to the routes directory -> content
    layout: Layout


def write_order(path: str, content: str) -> int:
    """Files are written freed-slot hosts first, then targets, then modes, then claimed hosts, so
    no request ever sees a mode or a host whose target files are not in place yet."""
    name = path.rsplit("/", 1)[-1]
    if name == HOST:
        return 0 if not content else 3
    return 2 if name == MODE else 1


def render(
    desired: DesiredState,
    *,
    routes_dir: Path | str,
    edge_listen: str = ":8080",
    admin: str = "127.0.0.1:2019",
    layout: Layout | None = None,
    try_duration: str = "5s",
    try_interval: str = "100ms",
) -> Rendered:
    base = Path(routes_dir)
    if not base.is_absolute() or any(c in str(base) for c in "{}"):
        raise ValueError(f"routes directory {base} must be absolute and free of braces")
    layout = layout or Layout()
    lb = {"try_duration": try_duration, "try_interval": try_interval}
    env_sites = [r for r in desired.routes if r.id.startswith("env.")]
    dep_sites = [r for r in desired.routes if not r.id.startswith("env.")]
    slots = assign_slots(layout.slots, [r.hosts[0] for r in dep_sites])
    by_host = {r.hosts[0]: r for r in dep_sites}

    files: dict[str, str] = {}
    widths: dict[str, int] = {}
    routes: list[dict[str, Any]] = []
    for site in env_sites:
        width = _site_files(site.id, site.target, layout, files, widths)
        routes.append(
            {
                "@id": site.id,
                "match": [{"host": list(site.hosts)}],
                "handle": [_subroute(base / site.id, width, lb)],
                "terminal": True,
            }
        )
    for n, host in enumerate(slots):
        name = f"{SLOT_PREFIX}{n}"
        site_for: SiteRoute | None = by_host.get(host)
        files[f"{name}/{HOST}"] = host
        if site_for is not None:
            width = _site_files(name, site_for.target, layout, files, widths)
        else:
            width = widths[name] = max(layout.widths.get(name, 0), 1)
        routes.append(
            {
                "@id": name,
                "match": [{"vars": {_file(base / name / HOST): ["{http.request.host}"]}}],
                "handle": [_subroute(base / name, width, lb)],
                "terminal": True,
            }
        )
    routes.append(
        {
            "@id": FALLBACK_ID,
            "handle": [
                {
                    "handler": "static_response",
                    "status_code": 404,
                    "headers": {"Content-Type": ["text/plain; charset=utf-8"]},
                    "body": NOT_FOUND_BODY,
                }
            ],
        }
    )
    config = {
        "admin": {"listen": admin},
        "apps": {
            "http": {
                "servers": {
                    SERVER: {
                        "listen": [edge_listen],
                        "automatic_https": {"disable": True},
                        "routes": routes,
                    }
                }
            }
        },
    }
    return Rendered(config, files, Layout(tuple(slots), widths))


def assign_slots(current: tuple[str, ...], hosts: list[str]) -> list[str]:
    """Hosts keep their slot; freed slots are reused lowest first; the pool doubles when full."""
    wanted = set(hosts)
    slots = [h if h in wanted else "" for h in current]
    placed = set(slots)
    for host in sorted(wanted - placed):
        try:
            slots[slots.index("")] = host
        except ValueError:
            slots.append(host)
    size = MIN_SLOTS
    while size < len(slots):
        size *= 2
    return slots + [""] * (size - len(slots))


def _site_files(
    name: str, target: Target, layout: Layout, files: dict[str, str], widths: dict[str, int]
) -> int:
    # Upstream slots never shrink: a narrower target repeats its replicas over them instead, so
    # going from 3 replicas to 1 and back changes files only, never Caddy's config.
    width = max(layout.widths.get(name, 0), len(target.upstreams), 1)
    widths[name] = width
    files[f"{name}/{MODE}"] = target.kind
    if target.kind == "upstreams":
        n = len(target.upstreams)
        for i in range(width):
            files[f"{name}/{upstream_file(i)}"] = target.upstreams[i % n]
    elif target.kind == "static":
        assert target.root is not None
        files[f"{name}/{ROOT}"] = target.root
    return width


def _file(path: Path) -> str:
    return "{file." + str(path) + "}"


def _subroute(site: Path, width: int, lb: dict[str, str]) -> dict[str, Any]:
    mode = _file(site / MODE)
    return {
        "handler": "subroute",
        "routes": [
            {
                "match": [{"vars": {mode: ["upstreams"]}}],
                "handle": [
                    {
                        "handler": "reverse_proxy",
                        "upstreams": [
                            {"dial": _file(site / upstream_file(i))} for i in range(width)
                        ],
                        # No active health checks: a failed dial is retried on the next slot for
                        # try_duration, so a request that meets a stopping replica waits instead
                        # of getting a 502; the dial address is read again on every try.
                        "load_balancing": {"selection_policy": {"policy": "round_robin"}, **lb},
                    }
                ],
                "terminal": True,
            },
            {
                "match": [{"vars": {mode: ["static"]}}],
                "handle": [{"handler": "file_server", "root": _file(site / ROOT)}],
                "terminal": True,
            },
            {"handle": [_maintenance()], "terminal": True},
        ],
    }


def _maintenance() -> dict[str, Any]:
    return {
        "handler": "static_response",
        "status_code": 503,
        "headers": {
            "Content-Type": ["text/html; charset=utf-8"],
            "Retry-After": ["60"],
            "Cache-Control": ["no-store"],
        },
        "body": MAINTENANCE_HTML,
    }
