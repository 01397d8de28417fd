"""One trace per deployment across every service process, exported over OTLP to a local
receiver (a real OTLP/HTTP endpoint decoding the protobuf requests the services send)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.names import unique
from tests.support.slipway_up import Repo, create_project, push, start_slipway, wait_status


class Receiver:
    """Collects (service name, trace id, span name, attributes) of every exported span."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.add(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, request: ExportTraceServiceRequest) -> None:
        for rs in request.resource_spans:
            service = next(
                (a.value.string_value for a in rs.resource.attributes if a.key == "service.name"),
                "?",
            )
            for ss in rs.scope_spans:
                for span in ss.spans:
                    attrs = {
                        a.key: a.value.string_value or str(a.value.int_value)
                        for a in span.attributes
                    }
                    with self.lock:
                        self.spans.append((service, span.trace_id.hex(), span.name, attrs))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_a_deployment_is_one_trace_across_every_service_process(
    tmp_path: Path, python_base_image: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    with start_slipway(tmp_path, python_base_image) as s:
        project = unique("e2e")
        repo = Repo(tmp_path / "repo", python_base_image)
        create_project(s, project, repo)
        (dep,) = push(s, project, repo, repo.commit("traced"))
        assert wait_status(s, dep["id"], {"completed", "failed"})["status"] == "completed"
        wanted = {
            "slipway-gateway",
            "slipway-clone",
            "slipway-build",
            "slipway-deploy",
            "slipway-health",
            "slipway-routing",
            "slipway-postdeploy",
        }
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with receiver.lock:
                mine = [x for x in receiver.spans if x[3].get("slipway.deployment_id") == dep["id"]]
            if wanted <= {x[0] for x in mine}:
                break
            time.sleep(0.3)
    traces: dict[str, set[str]] = defaultdict(set)
    for service, trace_id, _, _ in mine:
        traces[trace_id].add(service)
    assert len(traces) == 1, dict(traces)
    (services,) = traces.values()
    assert wanted <= services, services
