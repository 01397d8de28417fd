"""Tracing (OpenTelemetry): set up once per process, trace context in NATS headers (§3).

`setup_tracing(service)` exports spans over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set and
does nothing otherwise, so tracing costs nothing unless asked for. The W3C `traceparent` travels in
NATS message headers, never in an event's payload: a handler continues the trace of the message
that caused it, and a replay (projection rebuild, audit) only links to it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
TRACER_NAME = "slipway"

# W3C trace context only, whatever OTEL_PROPAGATORS says: NATS headers are our own wire.
_PROPAGATOR = TraceContextTextMapPropagator()


def setup_tracing(
    service_name: str,
    *,
    exporter: SpanExporter | None = None,
    set_global: bool = True,
) -> TracerProvider | None:
    """A tracer provider for `service_name`, or None (no-op) without an endpoint or exporter.

    `exporter` replaces the OTLP one (tests pass an in-memory exporter). The provider is
    installed globally unless `set_global` is false; OpenTelemetry allows that once per process.
    """
    if exporter is None:
        if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # endpoint, headers, timeout from OTEL_EXPORTER_OTLP_*
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    if set_global:
        trace.set_tracer_provider(provider)
    return provider


def tracer(provider: TracerProvider | None = None) -> Tracer:
    """The Slipway tracer of `provider`, else of the global provider (a no-op one by default)."""
    if provider is not None:
        return provider.get_tracer(TRACER_NAME)
    return trace.get_tracer(TRACER_NAME)


def inject_headers(
    headers: MutableMapping[str, str] | None = None, context: Context | None = None
) -> dict[str, str]:
    """NATS headers carrying the current (or given) trace context; other headers are kept."""
    out = dict(headers or {})
    _PROPAGATOR.inject(out, context=context)
    return out


def extract_context(headers: Mapping[str, str] | None) -> Context:
    """The trace context a message carries (an empty context when it carries none)."""
    return _PROPAGATOR.extract(dict(headers or {}))


def _link_to(headers: Mapping[str, str] | None) -> list[Link]:
    parent = trace.get_current_span(extract_context(headers)).get_span_context()
    return [Link(parent)] if parent.is_valid else []


@contextmanager
def deployment_span(
    name: str,
    deployment_id: str,
    *,
    headers: Mapping[str, str] | None = None,
    replay: bool = False,
    job_id: str | None = None,
    job_type: str | None = None,
    attempt: int | None = None,
    event_id: str | None = None,
    provider: TracerProvider | None = None,
    kind: SpanKind = SpanKind.CONSUMER,
) -> Iterator[Span]:
    """A span about one deployment (a job attempt, a handled event, a command).

    The parent is the trace context of `headers` (the message that caused the work); with
    `replay=True` that context is only linked, so re-reading old events never grows old traces.
    An exception marks the span as failed and is re-raised.
    """
    attributes: dict[str, str | int] = {"slipway.deployment_id": deployment_id}
    for key, value in (
        ("slipway.job_id", job_id),
        ("slipway.job_type", job_type),
        ("slipway.attempt", attempt),
        ("slipway.event_id", event_id),
    ):
        if value is not None:
            attributes[key] = value
    if replay:
        parent, links = Context(), _link_to(headers)
    else:
        parent, links = extract_context(headers), []
    with tracer(provider).start_as_current_span(
        name,
        context=parent,
        kind=kind,
        attributes=attributes,
        links=links,
        record_exception=True,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
