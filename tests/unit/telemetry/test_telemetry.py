"""Tracing scaffolding: setup, trace context through NATS headers, deployment spans."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from libs.telemetry import (
    TRACEPARENT,
    deployment_span,
    extract_context,
    inject_headers,
    setup_tracing,
    tracer,
)

DEP = "0b6f2c1e-8d1a-4f5e-9c3b-2a1d4e5f6a7b"


@pytest.fixture
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = setup_tracing("test-service", exporter=exporter, set_global=False)
    assert provider is not None
    yield provider, exporter
    provider.shutdown()


def finished(provider: TracerProvider, exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    provider.force_flush()
    return list(exporter.get_finished_spans())


def test_without_an_endpoint_tracing_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert setup_tracing("gateway", set_global=False) is None


def test_with_an_endpoint_spans_go_to_the_otlp_http_exporter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    provider = setup_tracing("gateway", set_global=False)
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "gateway"
    processors = provider._active_span_processor._span_processors
    exporter = processors[0].span_exporter  # type: ignore[attr-defined]
    assert type(exporter).__name__ == "OTLPSpanExporter"
    provider.shutdown()


def test_the_service_name_is_on_every_span(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    with deployment_span("build", DEP, provider=provider):
        pass
    [span] = finished(provider, exporter)
    assert span.resource.attributes["service.name"] == "test-service"


def test_trace_context_survives_a_trip_through_nats_headers(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    with tracer(provider).start_as_current_span("publish") as publish:
        headers = inject_headers({"Nats-Msg-Id": "abc"})
    assert headers["Nats-Msg-Id"] == "abc"
    assert headers[TRACEPARENT].split("-")[1] == f"{publish.get_span_context().trace_id:032x}"
    with deployment_span("handle", DEP, headers=headers, provider=provider, job_id="build"):
        pass
    handle = next(s for s in finished(provider, exporter) if s.name == "handle")
    assert handle.context.trace_id == publish.get_span_context().trace_id
    assert handle.parent is not None
    assert handle.parent.span_id == publish.get_span_context().span_id
    assert handle.kind is SpanKind.CONSUMER


def test_a_message_without_trace_context_starts_a_new_trace(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    assert inject_headers() == {}  # nothing is current: nothing to carry
    with deployment_span("handle", DEP, headers={}, provider=provider):
        pass
    [span] = finished(provider, exporter)
    assert span.parent is None


def test_a_replay_links_to_the_original_trace_instead_of_joining_it(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    with tracer(provider).start_as_current_span("original") as original:
        headers = inject_headers()
    with deployment_span("rebuild", DEP, headers=headers, replay=True, provider=provider):
        pass
    replayed = next(s for s in finished(provider, exporter) if s.name == "rebuild")
    assert replayed.parent is None
    assert replayed.context.trace_id != original.get_span_context().trace_id
    assert [link.context.span_id for link in replayed.links] == [
        original.get_span_context().span_id
    ]


def test_deployment_attributes_are_recorded(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    with deployment_span(
        "job", DEP, job_id="build", job_type="BuildImageJob", attempt=2, event_id="e1",
        provider=provider,
    ):  # fmt: skip
        pass
    [span] = finished(provider, exporter)
    assert dict(span.attributes or {}) == {
        "slipway.deployment_id": DEP,
        "slipway.job_id": "build",
        "slipway.job_type": "BuildImageJob",
        "slipway.attempt": 2,
        "slipway.event_id": "e1",
    }


def test_an_exception_marks_the_span_failed_and_propagates(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    with pytest.raises(RuntimeError, match="docker build failed"):
        with deployment_span("job", DEP, provider=provider):
            raise RuntimeError("docker build failed")
    [span] = finished(provider, exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "RuntimeError: docker build failed"
    assert span.events[0].name == "exception"


def test_a_malformed_traceparent_is_ignored() -> None:
    context = extract_context({TRACEPARENT: "not-a-traceparent"})
    assert not trace.get_current_span(context).get_span_context().is_valid
