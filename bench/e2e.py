"""From a signed webhook to the first 2xx of the new content through Caddy, for a static site and
a Dockerfile app, against doing the same by hand in the same run. Prints one JSON object.

Slipway: `slipway up` (embedded NATS and Caddy, SQLite, the local Docker engine) started by the
bench; each run commits new content to a local git repository and sends a signed GitHub push;
the clock stops at the first 2xx through Caddy that carries the new content (polled every 20 ms).
By hand: `git clone`, `docker build` (classic builder, like the SDK), `docker run -p`, then poll
the published port every 100 ms until the new content answers. The static site by hand is
`git clone` + a `python3 -m http.server` on the checkout (no image needed, as in Slipway).

    uv run python bench/e2e.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from libs.infra.process import free_port  # noqa: E402
from tests.support.images import python_base_image  # noqa: E402
from tests.support.names import unique  # noqa: E402
from tests.support.slipway_up import (  # noqa: E402
    Repo,
    Slipway,
    create_project,
    push,
    start_slipway,
)


def first_2xx(url: str, host: str | None, body: str, every_s: float, timeout: float = 300) -> None:
    headers = {"Host": host} if host else {}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                r = client.get(url, headers=headers)
                if r.status_code < 300 and body in r.text:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(every_s)
    raise TimeoutError(f"{url} never served {body!r}")


def slipway_run(s: Slipway, project: str, repo: Repo, body: str, static: bool) -> float:
    if static:
        (repo.path / "index.html").write_text(f"<h1>{body}</h1>\n")
        repo.git("add", "-A")
        repo.git("commit", "-q", "-m", body)
        sha = repo.git("rev-parse", "HEAD")
    else:
        sha = repo.commit(body)
    start = time.perf_counter()
    push(s, project, repo, sha)
    first_2xx(f"http://127.0.0.1:{s.edge}/", f"production.{project}.localhost", body, 0.02)
    return time.perf_counter() - start


def by_hand_docker(repo: Repo, body: str, work: Path) -> float:
    repo.commit(body)
    dest = work / f"clone-{body}"
    tag = f"bench-e2e/hand:{body}"
    port = free_port()
    start = time.perf_counter()
    subprocess.run(["git", "clone", "-q", str(repo.path), str(dest)], check=True)
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, str(dest)],
        check=True,
        capture_output=True,
        env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    cid = subprocess.run(
        ["docker", "run", "-d", "-e", "PORT=3000", "-p", f"127.0.0.1:{port}:3000", tag],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    try:
        first_2xx(f"http://127.0.0.1:{port}/", None, body, 0.1)
        return time.perf_counter() - start
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)


def by_hand_static(repo: Repo, body: str, work: Path) -> float:
    (repo.path / "index.html").write_text(f"<h1>{body}</h1>\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", body)
    dest = work / f"static-{body}"
    port = free_port()
    start = time.perf_counter()
    subprocess.run(["git", "clone", "-q", str(repo.path), str(dest)], check=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=dest,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        first_2xx(f"http://127.0.0.1:{port}/", None, body, 0.1)
        return time.perf_counter() - start
    finally:
        server.terminate()
        server.wait()


def summary(slip: list[float], hand: list[float]) -> dict[str, object]:
    s, h = statistics.median(slip), statistics.median(hand)
    allowed = max(0.1 * h, 0.5)
    return {
        "slipway_median_s": round(s, 3),
        "by_hand_median_s": round(h, 3),
        "overhead_s": round(s - h, 3),
        "overhead_pct": round(100 * (s - h) / h, 1),
        "target_met": s - h <= allowed,
        "slipway_runs_s": [round(x, 3) for x in slip],
        "by_hand_runs_s": [round(x, 3) for x in hand],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    base = python_base_image()
    work = Path(tempfile.mkdtemp(prefix="slipway-bench-e2e-"))
    try:
        with start_slipway(work, base) as s:
            docker_repo = Repo(work / "docker-repo", base)
            static_repo = Repo(work / "static-repo", base)
            (static_repo.path / "Dockerfile").unlink()
            docker_project, static_project = unique("bench"), unique("bench")
            create_project(s, docker_project, docker_repo)
            create_project(s, static_project, static_repo)
            # Warm-up: first deploys and first builds fill the layer cache.
            slipway_run(s, docker_project, docker_repo, "warm", static=False)
            by_hand_docker(docker_repo, "warmhand", work)
            slipway_run(s, static_project, static_repo, "warm", static=True)
            slip_d, hand_d, slip_s, hand_s = [], [], [], []
            for i in range(runs):
                hand_d.append(by_hand_docker(docker_repo, f"hand{i}", work))
                slip_d.append(slipway_run(s, docker_project, docker_repo, f"v{i}", static=False))
                hand_s.append(by_hand_static(static_repo, f"hand{i}", work))
                slip_s.append(slipway_run(s, static_project, static_repo, f"v{i}", static=True))
        print(
            json.dumps(
                {
                    "benchmark": "e2e",
                    "runs": runs,
                    "dockerfile_app": summary(slip_d, hand_d),
                    "static_site": summary(slip_s, hand_s),
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
