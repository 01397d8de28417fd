"""`slipway deploy`: every source, the upload shapes, and `--follow` to the end."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.unit.cli.fakes import (
    API,
    GATEWAY,
    FakeServer,
    invoke,
    make_cli,
    sse,
    stderr_lines,
)
from tests.unit.cli.records import DEP_ID, deployment, job, progressing

BASE = "/api/projects/hello/environments/production"
DEP = f"/api/deployments/{DEP_ID}"


def accepted(status: int = 202) -> httpx.Response:
    return httpx.Response(status, json=deployment())


def multipart_file(request: httpx.Request) -> tuple[str, bytes]:
    """(content type of the `file` part, its bytes) of a multipart request."""
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    for part in request.content.split(b"--" + boundary):
        head, _, body = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            ctype = [
                line.split(b":", 1)[1].strip().decode()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-type")
            ]
            return ctype[0], body.removesuffix(b"\r\n")
    raise AssertionError("no file part")


def test_deploy_of_the_branch_head_posts_a_manual_trigger_with_an_idempotency_key(
    tmp_path: Path,
) -> None:
    server = FakeServer().on("POST", f"{GATEWAY}{BASE}/deployments", accepted())
    result = invoke(make_cli(server, tmp_path), "deploy", "hello", "production")
    assert result.exit_code == 0, result.output
    sent = server.sent("POST", f"{BASE}/deployments")[0]
    assert json.loads(sent.content) == {}
    assert sent.headers["idempotency-key"]
    assert f"accepted: deployment {DEP_ID} (pending)" in result.stdout
    assert f"slipway logs {DEP_ID} --follow" in result.stdout


def test_deploy_commit_sends_branch_and_commit(tmp_path: Path) -> None:
    server = FakeServer().on("POST", f"{GATEWAY}{BASE}/deployments", accepted())
    result = invoke(
        make_cli(server, tmp_path),
        *("deploy", "hello", "production", "--branch", "main", "--commit", "3f2a9c1"),
        *("--idempotency-key", "k-1"),
    )
    assert result.exit_code == 0, result.output
    sent = server.sent("POST", f"{BASE}/deployments")[0]
    assert json.loads(sent.content) == {"branch": "main", "commit": "3f2a9c1"}
    assert sent.headers["idempotency-key"] == "k-1"


def test_deploy_repeat_with_the_same_key_says_already_requested(tmp_path: Path) -> None:
    server = FakeServer().on("POST", f"{GATEWAY}{BASE}/deployments", accepted(200))
    result = invoke(make_cli(server, tmp_path), "deploy", "hello", "production")
    assert result.exit_code == 0
    assert "already requested" in result.stdout


def test_deploy_image_posts_the_reference_and_pull_policy(tmp_path: Path) -> None:
    server = FakeServer().on("POST", f"{GATEWAY}{BASE}/deploy/image", accepted())
    result = invoke(
        make_cli(server, tmp_path),
        *("deploy", "hello", "production", "--image", "nginx:1.27", "--pull", "always", "--json"),
    )
    assert result.exit_code == 0, result.output
    assert server.body("POST", f"{BASE}/deploy/image") == {
        "image_ref": "nginx:1.27",
        "pull": "always",
    }
    assert json.loads(result.stdout)["id"] == DEP_ID


def test_deploy_image_file_uploads_the_archive_as_multipart(tmp_path: Path) -> None:
    archive = tmp_path / "app.tar"
    archive.write_bytes(b"docker-save-bytes" * 1000)
    server = FakeServer().on("POST", f"{GATEWAY}{BASE}/deploy/image-upload", accepted())
    result = invoke(
        make_cli(server, tmp_path), "deploy", "hello", "production", "--image-file", str(archive)
    )
    assert result.exit_code == 0, result.output
    ctype, body = multipart_file(server.sent("POST", f"{BASE}/deploy/image-upload")[0])
    assert ctype == "application/x-tar"
    assert body == archive.read_bytes()


def test_deploy_static_directory_is_packed_as_tar_gz_with_relative_paths(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "css").mkdir(parents=True)
    (site / "index.html").write_text("<h1>hi</h1>")
    (site / "css" / "app.css").write_text("h1{}")
    server = FakeServer().on("POST", f"{GATEWAY}{BASE}/deploy/static", accepted())
    result = invoke(
        make_cli(server, tmp_path), "deploy", "hello", "production", "--static", str(site)
    )
    assert result.exit_code == 0, result.output
    ctype, body = multipart_file(server.sent("POST", f"{BASE}/deploy/static")[0])
    assert ctype == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["css/app.css", "index.html"]
        member = tar.extractfile("index.html")
        assert member is not None and member.read() == b"<h1>hi</h1>"


def test_deploy_static_zip_is_sent_as_it_is(tmp_path: Path) -> None:
    bundle = tmp_path / "site.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.writestr("index.html", "<h1>zip</h1>")
    server = FakeServer().on("POST", f"{GATEWAY}{BASE}/deploy/static", accepted())
    result = invoke(
        make_cli(server, tmp_path), "deploy", "hello", "production", "--static", str(bundle)
    )
    assert result.exit_code == 0, result.output
    ctype, body = multipart_file(server.sent("POST", f"{BASE}/deploy/static")[0])
    assert (ctype, body) == ("application/zip", bundle.read_bytes())


def test_deploy_static_file_that_is_not_an_archive_fails_in_one_line(tmp_path: Path) -> None:
    note = tmp_path / "notes.txt"
    note.write_text("x")
    result = invoke(
        make_cli(FakeServer(), tmp_path), "deploy", "hello", "production", "--static", str(note)
    )
    assert result.exit_code == 1
    assert stderr_lines(result) == [
        f"error: {note} is neither a directory nor a .tar.gz, .tgz, .tar or .zip archive"
    ]


def test_deploy_static_empty_directory_fails(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = invoke(
        make_cli(FakeServer(), tmp_path),
        *("deploy", "hello", "production", "--static", str(tmp_path / "empty")),
    )
    assert result.exit_code == 1
    assert "has no files to deploy" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--image", "nginx", "--static", "."],
        ["--branch", "main", "--image", "nginx"],
        ["--pull", "always"],
        ["--image", "nginx", "--pull", "sometimes"],
        ["--static", "/does/not/exist"],
    ],
)
def test_deploy_with_contradicting_or_bad_options_is_a_usage_error(
    tmp_path: Path, args: list[str]
) -> None:
    server = FakeServer()
    result = invoke(make_cli(server, tmp_path), "deploy", "hello", "production", *args)
    assert result.exit_code == 2, result.output
    assert server.requests == []


def log(job_id: str, line: str, level: str = "info") -> dict[str, object]:
    return {
        "ts": "2024-05-01T12:00:01.000000Z",
        "job": job_id,
        "attempt": 1,
        "stream": "stdout",
        "level": level,
        "line": line,
    }


def test_deploy_follow_shows_jobs_and_logs_and_ends_with_the_url(tmp_path: Path) -> None:
    records = [
        deployment("running", progressing("running", "pending", "pending", "pending")),
        deployment("deploying", progressing("success", "success", "running", "pending")),
        deployment("completed", progressing("success", "success", "success", "success")),
    ]
    server = (
        FakeServer()
        .on("POST", f"{GATEWAY}{BASE}/deployments", accepted())
        .on("GET", f"{API}{DEP}", *[httpx.Response(200, json=r) for r in records])
        .on(
            "GET",
            f"{API}{DEP}/logs",
            sse(("log", log("j0", "cloning")), ("log", log("j1", "built"))),
        )
    )
    result = invoke(make_cli(server, tmp_path), "deploy", "hello", "production", "--follow")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "cloning" in out and "built" in out
    assert "▸ DownloadRepoJob running" in out
    assert "✓ BuildImageJob success (2.5s)" in out
    assert "✓ MarkDeploymentCompleteJob success" in out
    assert out.rstrip().endswith("deployed: http://production.hello.localhost:8080")
    first_get = server.sent("GET", DEP)[0]
    assert first_get.url.params["min_seq"] == "7"
    assert server.sent("GET", f"{DEP}/logs")[0].url.params["follow"] == "true"


def test_deploy_follow_of_a_failed_build_exits_1_with_the_reason(tmp_path: Path) -> None:
    failed = [job(0, "success"), job(1, "failure", "exit code 2: npm ERR!"), job(2, "cancelled")]
    server = (
        FakeServer()
        .on("POST", f"{GATEWAY}{BASE}/deployments", accepted())
        .on("GET", f"{API}{DEP}", httpx.Response(200, json=deployment("failed", failed)))
        .on("GET", f"{API}{DEP}/logs", sse(("log", log("j1", "npm ERR!", "error")), end="failed"))
    )
    result = invoke(make_cli(server, tmp_path), "deploy", "hello", "production", "--follow")
    assert result.exit_code == 1
    assert stderr_lines(result) == [
        f"error: deployment {DEP_ID} did not deploy — BuildImageJob failed: exit code 2: npm ERR!"
    ]
    assert "✗ BuildImageJob failure (2.5s): exit code 2: npm ERR!" in result.stdout


def test_deploy_follow_goes_on_without_logs_when_the_log_stream_is_refused(
    tmp_path: Path,
) -> None:
    from tests.unit.cli.fakes import problem

    server = (
        FakeServer()
        .on("POST", f"{GATEWAY}{BASE}/deployments", accepted())
        .on(
            "GET",
            f"{API}{DEP}",
            httpx.Response(200, json=deployment("running")),
            httpx.Response(200, json=deployment("cancelled", cancelled_reason="superseded by x")),
        )
        .on("GET", f"{API}{DEP}/logs", problem(503, "log stream unavailable"))
    )
    result = invoke(make_cli(server, tmp_path), "deploy", "hello", "production", "--follow")
    assert result.exit_code == 1
    assert "(no live logs: log stream unavailable" in result.stdout
    assert stderr_lines(result) == [
        f"error: deployment {DEP_ID} did not deploy — cancelled: superseded by x"
    ]


def test_deploy_follow_resumes_a_dropped_log_stream_after_the_last_event(
    tmp_path: Path,
) -> None:
    dropped = sse(("log", log("j0", "first")), end=None)
    rest = httpx.Response(
        200,
        content=b'id: 2\nevent: log\ndata: {"job":"j0","line":"second"}\n\n'
        b"event: end\ndata: {}\n\n",
        headers={"content-type": "text/event-stream"},
    )
    records = [deployment("running")] * 3 + [deployment("completed", progressing(*["success"] * 4))]
    server = (
        FakeServer()
        .on("POST", f"{GATEWAY}{BASE}/deployments", accepted())
        .on("GET", f"{API}{DEP}", *[httpx.Response(200, json=r) for r in records])
        .on("GET", f"{API}{DEP}/logs", dropped, rest)
    )
    result = invoke(make_cli(server, tmp_path), "deploy", "hello", "production", "-f")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("first") == 1 and result.stdout.count("second") == 1
    resumed = server.sent("GET", f"{DEP}/logs")[1]
    assert resumed.headers["last-event-id"] == "1"


def test_deploy_follow_json_keeps_stdout_for_the_final_record(tmp_path: Path) -> None:
    done = deployment("completed", progressing(*["success"] * 4))
    server = (
        FakeServer()
        .on("POST", f"{GATEWAY}{BASE}/deployments", accepted())
        .on("GET", f"{API}{DEP}", httpx.Response(200, json=done))
        .on("GET", f"{API}{DEP}/logs", sse(("log", log("j0", "cloning"))))
    )
    result = invoke(make_cli(server, tmp_path), "deploy", "hello", "production", "-f", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "completed"
    assert "cloning" in result.stderr
