"""Gateway benchmark. Prints one JSON object.

1. Signed GitHub pushes: 32 concurrent connections for 30 s, spread over 50 projects, every
   request a distinct commit and delivery (so each one appends a DeploymentRequested). The load
   generator is a separate process (`wrk` when installed, else httpx in a subprocess); the
   gateway is a real uvicorn process (one worker) on an embedded NATS, with the admission manager
   when its module exists (its consumer lag is reported at the end); no executors run.
2. Upload rate of a ~200 MB image archive (`docker save` of a FROM-scratch image padded with a
   random file), when Docker is available.

Usage: uv run python bench/gateway.py [--duration 30] [--connections 32] [--projects 50]
       [--upload-mb 200] [--loadgen auto|wrk|httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import nats
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from libs.events.subjects import EVENTS_STREAM  # noqa: E402
from libs.eventstore import bootstrap  # noqa: E402
from libs.infra import EmbeddedNats, free_port  # noqa: E402
from services.gateway.webhooks_github import sign_github  # noqa: E402

TOKEN = "bench-" + uuid.uuid4().hex
WEBHOOK_SECRET = "bench-webhook-secret"
RATE_CAP = 4000  # requests per second the pre-generated request file can feed without repeats

WRK_SCRIPT = r"""
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  reqs = {}
  wrapped = 0
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == tid then
      local path, delivery, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json",
        ["X-GitHub-Event"] = "push",
        ["X-GitHub-Delivery"] = delivery,
        ["X-Hub-Signature-256"] = sig,
      }, body)
    end
    i = i + 1
  end
  n = 0
end
function request()
  n = n + 1
  if n > #reqs then n = 1; wrapped = wrapped + 1 end
  return reqs[n]
end
function done(summary, latency, requests)
  local wraps = 0
  for _, t in ipairs(threads) do wraps = wraps + (t:get("wrapped") or 0) end
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors_status":%d,"errors_connect":%d,' ..
    '"errors_read":%d,"errors_write":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f,"wrapped":%d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, wraps))
end
"""


def push_body(project_idx: int, n: int) -> bytes:
    sha = hashlib.sha1(f"commit-{n}".encode()).hexdigest()
    before = hashlib.sha1(f"commit-{n - 1}".encode()).hexdigest()
    payload = {
        "ref": "refs/heads/main",
        "before": before,
        "after": sha,
        "created": False,
        "deleted": False,
        "forced": False,
        "repository": {
            "id": 1000 + project_idx,
            "full_name": f"bench/app-{project_idx}",
            "clone_url": f"https://github.com/bench/app-{project_idx}.git",
        },
        "pusher": {"name": "bench", "email": "bench@example.com"},
        "sender": {"login": "bench", "id": 1},
        "head_commit": {
            "id": sha,
            "message": f"Change number {n}",
            "timestamp": "2026-01-01T00:00:00Z",
            "author": {"name": "Bench", "email": "bench@example.com"},
        },
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def write_requests(path: Path, projects: list[str], count: int) -> None:
    with path.open("w") as out:
        for n in range(count):
            idx = n % len(projects)
            body = push_body(idx, n)
            delivery = str(uuid.uuid4())
            sig = sign_github(body, WEBHOOK_SECRET)
            out.write(f"/webhooks/github/{projects[idx]}\t{delivery}\t{sig}\t{body.decode()}\n")


# ---------------------------------------------------------------- httpx load generator (fallback)


async def _httpx_load(
    url: str, lines: list[str], connections: int, duration: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    cursor = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        end = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal cursor, errors
            while time.perf_counter() < end:
                path, delivery, sig, body = lines[cursor % len(lines)].split("\t", 3)
                cursor += 1
                headers = {
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": delivery,
                    "X-Hub-Signature-256": sig,
                }
                t0 = time.perf_counter()
                resp = await client.post(path, content=body.encode(), headers=headers)
                latencies.append(time.perf_counter() - t0)
                if resp.status_code >= 300:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> int:
        return int(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e6)

    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "errors_status": errors,
        "p50_us": pct(0.50),
        "p90_us": pct(0.90),
        "p99_us": pct(0.99),
        "max_us": int(latencies[-1] * 1e6),
        "mean_us": statistics.fmean(latencies) * 1e6,
        "wrapped": max(0, cursor - len(lines)),
    }


def run_loadgen(
    kind: str, url: str, file: Path, connections: int, duration: float
) -> dict[str, Any]:
    if kind == "wrk":
        script = file.with_suffix(".lua")
        script.write_text(WRK_SCRIPT)
        threads = 2
        cmd = [
            "wrk", f"-t{threads}", f"-c{connections}", f"-d{int(duration)}s", "--timeout", "10s",
            "-s", str(script), url, "--", str(file), str(threads),
        ]  # fmt: skip
    else:
        cmd = [sys.executable, __file__, "--loadgen-worker", url, str(file), str(connections),
               str(duration)]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    line = next(ln for ln in reversed(out.splitlines()) if ln.startswith("{"))
    result: dict[str, Any] = json.loads(line)
    result["loadgen"] = kind
    return result


# ---------------------------------------------------------------- the gateway process


def start_gateway(nats_url: str, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        SLIPWAY_NATS_URL=nats_url,
        SLIPWAY_GATEWAY_PORT=str(port),
        SLIPWAY_ADMIN_TOKEN=TOKEN,
        SLIPWAY_SECRET_KEY=Fernet.generate_key().decode(),
        SLIPWAY_DATA_DIR=str(data_dir),
        SLIPWAY_MAX_IMAGE_UPLOAD_BYTES=str(1024 * 1024 * 1024),
    )
    log = (data_dir / "gateway.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "services.gateway.main"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("gateway did not become healthy")


async def create_projects(url: str, count: int) -> list[str]:
    run = uuid.uuid4().hex[:6]
    names = [f"bench-{run}-{i}" for i in range(count)]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        for name in names:
            resp = await client.post(
                "/api/projects",
                json={
                    "name": name,
                    "repo_url": f"https://github.com/bench/{name}.git",
                    "webhook_secret": WEBHOOK_SECRET,
                    "environments": [{"name": "production", "branch": "main"}],
                },
            )
            resp.raise_for_status()
    return names


async def _count(js: Any, subject: str) -> int:
    """Messages stored on `subject`: the pending count of a throwaway consumer."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    info = await js.add_consumer(
        EVENTS_STREAM,
        config=ConsumerConfig(
            filter_subject=subject,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            mem_storage=True,
            inactive_threshold=30.0,
        ),
    )
    await js.delete_consumer(EVENTS_STREAM, info.name)
    return int(info.num_pending)


async def admission_stats(nats_url: str, window_s: float = 20.0) -> dict[str, Any]:
    """How far the admission manager (if running) is behind the requests, and how fast it goes."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        requested = await _count(js, "events.deployment.*.DeploymentRequested")
        admitted = await _count(js, "events.deployment.*.DeploymentAdmitted")
        durable = {c.name for c in await js.consumers_info(EVENTS_STREAM) if c.config.durable_name}
        if "admission" not in durable:
            return {"running": False, "deployments_requested": requested}
        await asyncio.sleep(window_s)
        later = await _count(js, "events.deployment.*.DeploymentAdmitted")
        rate = (later - admitted) / window_s
        lag = requested - admitted
        return {
            "running": True,
            "deployments_requested": requested,
            "admitted_at_end_of_load": admitted,
            "lag_at_end_of_load": lag,
            "admissions_per_s_after_load": round(rate, 1),
            "estimated_drain_s": round(lag / rate, 1) if rate > 0 else None,
        }
    finally:
        await nc.close()


# ---------------------------------------------------------------- upload


def make_image_archive(work: Path, size_mb: int) -> tuple[Path, str] | None:
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception:
        return None
    ctx = work / "image-ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY pad /pad\n")
    with (ctx / "pad").open("wb") as pad:
        for _ in range(size_mb):
            pad.write(os.urandom(1024 * 1024))
    tag = f"slipway-bench/padded:{uuid.uuid4().hex[:8]}"
    image, _ = client.images.build(path=str(ctx), tag=tag, rm=True)
    archive = work / "image.tar"
    with archive.open("wb") as out:
        for chunk in image.save(named=True):
            out.write(chunk)
    shutil.rmtree(ctx)
    return archive, tag


def upload_rate(url: str, project: str, archive: Path, repeats: int = 3) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    times = []
    size = archive.stat().st_size
    with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
        for _ in range(repeats):
            with archive.open("rb") as file:
                t0 = time.perf_counter()
                resp = client.post(
                    f"/api/projects/{project}/environments/production/deploy/image-upload",
                    files={"file": ("image.tar", file, "application/x-tar")},
                )
                times.append(time.perf_counter() - t0)
            resp.raise_for_status()
    best = min(times)
    return {
        "archive_bytes": size,
        "seconds": [round(t, 3) for t in times],
        "mb_per_s_median": round(size / 1e6 / statistics.median(times), 1),
        "mb_per_s_best": round(size / 1e6 / best, 1),
    }


# ---------------------------------------------------------------- main


class NatsWithDefaultSync(EmbeddedNats):
    """The embedded server without `sync_interval: always` (NATS's default: sync every 2 min)."""

    def _config(self, port: int, run_dir: Path) -> str:
        return super()._config(port, run_dir).replace("  sync_interval: always\n", "")


async def append_ceiling(nats_url: str, connections: int, seconds: float = 5.0) -> float:
    """Appends/s the server takes from 32 concurrent writers (event-sized messages, the event
    stream's settings, a scratch stream): the ceiling the gateway cannot beat on this disk."""
    from libs.eventstore.bootstrap import BootstrapOptions, events_stream_config

    nc = await nats.connect(nats_url)
    cfg = events_stream_config(BootstrapOptions())
    cfg.update(name="BENCH_CEILING", subjects=["ceiling.>"], deny_delete=False, deny_purge=False)
    await nc.request("$JS.API.STREAM.CREATE.BENCH_CEILING", json.dumps(cfg).encode(), timeout=5)
    payload = push_body(0, 0) * 2  # about the size of a DeploymentRequested
    done = 0
    end = time.perf_counter() + seconds

    async def writer() -> None:
        nonlocal done
        while time.perf_counter() < end:
            subject = f"ceiling.{uuid.uuid4().hex}.DeploymentRequested"
            headers = {
                "Nats-Msg-Id": uuid.uuid4().hex,
                "Nats-Expected-Last-Subject-Sequence": "0",
            }
            await nc.request(subject, payload, timeout=10, headers=headers)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(connections)))
    rate = done / (time.perf_counter() - started)
    await nc.request("$JS.API.STREAM.DELETE.BENCH_CEILING", b"", timeout=10)
    await nc.close()
    return round(rate, 1)


def run_pushes(
    args: argparse.Namespace, kind: str, work: Path, *, durable: bool, upload: bool
) -> dict[str, Any]:
    """One embedded NATS and one gateway process; the push load, then (optionally) uploads."""
    server_cls = EmbeddedNats if durable else NatsWithDefaultSync
    out: dict[str, Any] = {"nats_sync": "always" if durable else "default (2 min)"}
    with server_cls(work / "nats") as server:

        async def prepare() -> None:
            nc = await nats.connect(server.url)
            await bootstrap(nc)
            await nc.close()

        asyncio.run(prepare())
        out["nats_append_ceiling_per_s"] = asyncio.run(append_ceiling(server.url, args.connections))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_gateway(server.url, port, work)
        try:
            wait_healthy(url, proc)
            projects = asyncio.run(create_projects(url, args.projects))
            requests_file = work / "requests.tsv"
            write_requests(requests_file, projects, int(RATE_CAP * (args.duration + 3)))
            warm = work / "warmup.tsv"
            write_requests(warm, projects, 3000)
            run_loadgen(kind, url, warm, args.connections, 2)
            cpu_before = _cpu_seconds(proc.pid)
            load = run_loadgen(kind, url, requests_file, args.connections, args.duration)
            cpu_after = _cpu_seconds(proc.pid)
            seconds = load["duration_us"] / 1e6
            out.update(
                connections=args.connections,
                projects=args.projects,
                duration_s=round(seconds, 2),
                requests=load["requests"],
                req_per_s=round(load["requests"] / seconds, 1),
                p50_ms=round(load["p50_us"] / 1000, 2),
                p90_ms=round(load["p90_us"] / 1000, 2),
                p99_ms=round(load["p99_us"] / 1000, 2),
                max_ms=round(load["max_us"] / 1000, 2),
                non_2xx=load["errors_status"],
                repeated_requests=load["wrapped"],
                gateway_cpu_ms_per_request=round(
                    (cpu_after - cpu_before) * 1000 / max(1, load["requests"]), 3
                ),
                loadgen=load["loadgen"],
            )
            out["admission"] = asyncio.run(admission_stats(server.url))
            if upload:
                out["upload"] = run_upload(args, work, url, projects[0])
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    shutil.rmtree(work / "nats", ignore_errors=True)
    return out


def run_upload(args: argparse.Namespace, work: Path, url: str, project: str) -> dict[str, Any]:
    if not args.upload_mb:
        return {"skipped": "--upload-mb 0"}
    made = make_image_archive(work, args.upload_mb)
    if made is None:
        return {"skipped": "no Docker engine"}
    archive, tag = made
    try:
        return upload_rate(url, project, archive)
    finally:
        import docker

        docker.from_env().images.remove(tag, force=True)
        archive.unlink(missing_ok=True)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--upload-mb", type=int, default=200)
    parser.add_argument("--loadgen", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="skip the second run on a NATS without per-message fsync",
    )
    args = parser.parse_args()
    kind = args.loadgen if args.loadgen != "auto" else ("wrk" if shutil.which("wrk") else "httpx")

    work = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    load1 = os.getloadavg()[0]
    result: dict[str, Any] = {"benchmark": "gateway", "cpus": os.cpu_count()}
    try:
        # As `slipway up` runs it: every acknowledged write fsynced.
        result["pushes"] = run_pushes(args, kind, work, durable=True, upload=True)
        result["upload"] = result["pushes"].pop("upload")
        result["admission"] = result["pushes"].pop("admission")
        if not args.no_compare:
            result["pushes_without_fsync"] = run_pushes(
                args, kind, work, durable=False, upload=False
            )
            result["pushes_without_fsync"].pop("admission", None)
        result["machine_load_1min_at_start"] = round(load1, 2)
        pushes = result["pushes"]
        result["targets"] = {
            "req_per_s>=1000": pushes["req_per_s"] >= 1000,
            "p99_ms<=50": pushes["p99_ms"] <= 50,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen-worker":
        _, _, url, file, conns, dur = sys.argv
        lines = Path(file).read_text().splitlines()
        print(json.dumps(asyncio.run(_httpx_load(url, lines, int(conns), float(dur)))))
    else:
        main()
