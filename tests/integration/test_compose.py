"""deploy/compose.yaml: valid for `docker compose config`, and wired the way §1 and §9 require —
the Docker socket only where Docker is the job, Caddy's admin API on a private network that no
app container can reach, every service after the bootstrap step, static roots shared."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from slipway.up import SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
SECRETS = {"SLIPWAY_ADMIN_TOKEN": "t0ken", "SLIPWAY_SECRET_KEY": "k3y", "POSTGRES_PASSWORD": "pw"}
SOCKET = "/var/run/docker.sock"


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        return [standalone]
    pytest.skip("neither `docker compose` nor docker-compose is installed (.ci/run installs it)")


def run_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLIPWAY_", "POSTGRES_"))}
    return subprocess.run(
        [*compose_command(), "-f", str(COMPOSE), "--env-file", str(env_file), "config"],
        capture_output=True,
        text=True,
        env=clean,
        check=False,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    done = run_config(tmp_path_factory.mktemp("compose"), SECRETS)
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = yaml.safe_load(done.stdout)
    return loaded


def networks_of(service: dict[str, Any]) -> dict[str, Any]:
    nets = service.get("networks") or {}
    return (
        {n: {} for n in nets} if isinstance(nets, list) else {k: v or {} for k, v in nets.items()}
    )


def mounts_of(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) for both compose v1 strings and v2 objects."""
    out = []
    for vol in service.get("volumes") or []:
        if isinstance(vol, str):
            parts = vol.split(":")
            out.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
        else:
            out.append((str(vol.get("source")), str(vol["target"]), bool(vol.get("read_only"))))
    return out


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def slipway_processes(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services running a Slipway process (`python -m services.<name>.main`)."""
    out = {}
    for svc in config["services"].values():
        command = svc.get("command") or []
        if isinstance(command, str):
            command = command.split()
        match = re.fullmatch(r"services\.(\w+)\.main", command[-1]) if command else None
        if match:
            out[match.group(1)] = svc
    return out


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    done = run_config(tmp_path, {})
    assert done.returncode != 0
    assert "SLIPWAY_ADMIN_TOKEN" in done.stderr or "POSTGRES_PASSWORD" in done.stderr


def test_every_slipway_process_runs_and_only_after_the_bootstrap_step(
    config: dict[str, Any],
) -> None:
    processes = slipway_processes(config)
    assert set(processes) == set(SERVICES)
    assert {"nats", "postgres", "caddy", "bootstrap"} <= set(config["services"])
    for name, svc in processes.items():
        depends = svc["depends_on"]
        assert depends["bootstrap"]["condition"] == "service_completed_successfully", name
        assert env_of(svc)["SLIPWAY_NATS_URL"] == "nats://nats:4222", name
        assert env_of(svc)["DATABASE_URL"].startswith("postgresql+asyncpg://"), name
    boot = config["services"]["bootstrap"]
    assert boot["command"][-1] == "bootstrap"
    assert {k: v["condition"] for k, v in boot["depends_on"].items()} == {
        "nats": "service_healthy",
        "postgres": "service_healthy",
    }


def test_every_slipway_service_runs_the_one_image_built_from_deploy_dockerfile(
    config: dict[str, Any],
) -> None:
    ours = [n for n, s in config["services"].items() if n != "postgres"]
    images = {config["services"][n]["image"] for n in ours}
    assert len(images) == 1
    for name in ours:
        build = config["services"][name]["build"]
        assert Path(build["context"]).resolve() == COMPOSE.parent
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile"


def test_the_docker_socket_is_mounted_only_for_build_deploy_and_postdeploy(
    config: dict[str, Any],
) -> None:
    with_socket = {
        name
        for name, svc in config["services"].items()
        if any(source.endswith("docker.sock") for source, _, _ in mounts_of(svc))
    }
    assert with_socket == {"build", "deploy", "postdeploy"}
    for name in with_socket:
        targets = [t for s, t, _ in mounts_of(config["services"][name]) if s.endswith(".sock")]
        assert targets == [SOCKET]


def test_caddys_admin_api_is_only_on_a_private_network_apps_cannot_reach(
    config: dict[str, Any],
) -> None:
    services = config["services"]
    caddy_nets = networks_of(services["caddy"])
    admin_ip = caddy_nets["admin"]["ipv4_address"]
    caddy_json = json.loads((COMPOSE.parent / "caddy.json").read_text())
    assert caddy_json["admin"]["listen"] == f"{admin_ip}:2019"
    for name, svc in slipway_processes(config).items():
        assert env_of(svc)["SLIPWAY_CADDY_ADMIN"] == f"{admin_ip}:2019", name
    members = {n for n, s in services.items() if "admin" in networks_of(s)}
    assert members == {"caddy", "routing"}
    admin_net = config["networks"]["admin"]
    assert admin_net["internal"] is True
    subnet = admin_net["ipam"]["config"][0]["subnet"]
    assert admin_ip.startswith(subnet.rsplit(".", 1)[0] + ".")
    # App containers join the apps network (named for the deploy service); the admin address is
    # not on it, and it is a different network.
    apps_name = config["networks"]["apps"]["name"]
    assert env_of(services["deploy"])["SLIPWAY_DOCKER_NETWORK"] == apps_name
    assert "ipv4_address" not in caddy_nets["apps"]
    assert config["networks"]["admin"].get("name") != apps_name


def test_only_the_edge_proxy_the_gateway_and_the_query_api_publish_ports(
    config: dict[str, Any],
) -> None:
    published = {n for n, s in config["services"].items() if s.get("ports")}
    assert published == {"caddy", "gateway", "projector"}


def test_the_bus_is_internal_and_nats_and_postgres_publish_nothing(
    config: dict[str, Any],
) -> None:
    assert config["networks"]["bus"]["internal"] is True
    for name in ("nats", "postgres"):
        svc = config["services"][name]
        assert set(networks_of(svc)) == {"bus"}, name
        assert not svc.get("ports"), name
    for name in slipway_processes(config):
        assert "bus" in networks_of(config["services"][name]), name
    assert not any(
        "apps" in networks_of(config["services"][n]) for n in ("nats", "postgres", "gateway")
    )


def test_deploy_and_caddy_share_the_static_roots(config: dict[str, Any]) -> None:
    services = config["services"]
    root = env_of(services["deploy"])["SLIPWAY_STATIC_ROOT"]
    deploy = {t: (s, ro) for s, t, ro in mounts_of(services["deploy"])}
    caddy = {t: (s, ro) for s, t, ro in mounts_of(services["caddy"])}
    assert deploy[root][0] == caddy[root][0]
    assert deploy[root][1] is False and caddy[root][1] is True
    for name, svc in slipway_processes(config).items():
        assert env_of(svc)["SLIPWAY_STATIC_ROOT"] == root, name


def test_nats_runs_jetstream_on_disk_with_every_write_synced(config: dict[str, Any]) -> None:
    nats = config["services"]["nats"]
    command = nats["command"]
    conf_target = command[command.index("--config") + 1]
    source = next(s for s, t, _ in mounts_of(nats) if t == conf_target)
    text = Path(source).read_text()
    assert re.search(r"^\s*sync_interval:\s*always\s*$", text, re.M)
    assert re.search(r"^\s*store_dir:\s*/data/jetstream\s*$", text, re.M)
    assert any(t == "/data" for _, t, _ in mounts_of(nats))
    assert "healthcheck" in nats
