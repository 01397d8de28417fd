from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from libs.infra.process import (
    ChildProcess,
    EmbeddedServerError,
    find_binary,
    free_port,
    split_host_port,
)


def test_find_binary_prefers_the_venv_next_to_the_interpreter() -> None:
    path = find_binary("nats-server")
    assert path.parent == Path(sys.executable).parent
    assert os.access(path, os.X_OK)


def test_find_binary_names_the_missing_binary() -> None:
    with pytest.raises(EmbeddedServerError, match="no-such-binary-xyz not found"):
        find_binary("no-such-binary-xyz")


def test_find_binary_rejects_an_override_that_is_not_executable(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(EmbeddedServerError, match="not an executable"):
        find_binary("caddy", plain)


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1:2019", ("127.0.0.1", 2019)), ("[::1]:80", ("::1", 80)), ("h:0", ("h", 0))],
)
def test_split_host_port_accepts_host_and_port(address: str, expected: tuple[str, int]) -> None:
    assert split_host_port(address) == expected


@pytest.mark.parametrize("address", ["2019", ":2019", "host:", "host:x", "host:70000"])
def test_split_host_port_rejects_malformed_addresses(address: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        split_host_port(address)


def test_child_that_dies_early_reports_its_log(tmp_path: Path) -> None:
    child = ChildProcess("sh", tmp_path / "sh.log")
    child.spawn(["sh", "-c", "echo boom; exit 3"])
    with pytest.raises(EmbeddedServerError, match=r"exited \(3\)[\s\S]*boom"):
        child.wait_until(lambda: False, 5.0, "readiness")


def test_child_that_never_gets_ready_is_stopped(tmp_path: Path) -> None:
    child = ChildProcess("sleep", tmp_path / "sleep.log")
    child.spawn(["sleep", "30"])
    with pytest.raises(EmbeddedServerError, match="no readiness within"):
        child.wait_until(lambda: False, 0.2, "readiness")
    assert not child.running


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    child = ChildProcess("stubborn", tmp_path / "s.log")
    child.spawn(["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"])
    child.wait_until(lambda: "ready" in child.log_tail(), 5.0, "trap")
    child.stop(grace_s=0.3)
    assert not child.running


def test_spawning_twice_is_refused(tmp_path: Path) -> None:
    child = ChildProcess("sleep", tmp_path / "sleep.log")
    child.spawn(["sleep", "30"])
    try:
        with pytest.raises(EmbeddedServerError, match="already running"):
            child.spawn(["sleep", "30"])
    finally:
        child.stop()
