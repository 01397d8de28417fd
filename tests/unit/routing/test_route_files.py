"""The route files adapter on a real directory: atomic replacement, several writers at once."""

from __future__ import annotations

import threading
from pathlib import Path

from services.routing.adapters.route_files import RouteFiles


def files_of(tag: str) -> dict[str, str]:
    return {
        "slot.0/host": f"{tag}.example.test",
        "slot.0/mode": "proxy",
        "slot.0/u0": f"10.0.0.{tag}:8000",
        "slot.1/host": f"{tag}-b.example.test",
        "slot.1/u0": f"10.0.1.{tag}:8000",
    }


def test_a_write_replaces_only_what_differs(tmp_path: Path) -> None:
    routes = RouteFiles(tmp_path)
    assert routes.write(files_of("1")) == 5
    assert routes.write(files_of("1")) == 0
    changed = {**files_of("1"), "slot.0/u0": "10.9.9.9:8000"}
    assert routes.write(changed) == 1
    assert routes.read("slot.0/u0") == "10.9.9.9:8000"
    assert routes.layout().slots == ("1.example.test", "1-b.example.test")


def test_writers_at_once_never_fail_and_leave_one_whole_set(tmp_path: Path) -> None:
    # Two adapters on one directory (a switch job and the reconciler of one process), several
    # threads each: every write succeeds, no temporary file stays, and what remains is the whole
    # set of one write, never a mix.
    adapters = [RouteFiles(tmp_path), RouteFiles(tmp_path)]
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(40):
                adapters[(n + i) % 2].write(files_of(f"{n}{i:02d}"))
        except BaseException as exc:  # pragma: no cover - what the test is about
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    tag = adapters[0].read("slot.0/host").split(".")[0]
    assert adapters[0].differing(files_of(tag)) == {}
