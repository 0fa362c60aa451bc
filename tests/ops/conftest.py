"""Fixtures for the operations tests: a loopback OTLP collector and OpenTelemetry turned on
through the standard environment variables (then off again: the default)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cio_site import telemetry
from tests.ops.collector import Collector


@pytest.fixture(scope="session")
def collector() -> Iterator[Collector]:
    server = Collector().start()
    yield server
    server.stop()


@pytest.fixture
def otel(collector: Collector, monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    """Traces, metrics and logs exported over OTLP/HTTP to the loopback collector, configured
    exactly as in production: OTEL_EXPORTER_OTLP_ENDPOINT, then ``telemetry.setup()``."""
    collector.clear()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    assert telemetry.setup() is True
    yield collector
    telemetry.force_flush()
    telemetry.shutdown()
    assert telemetry.intent_tracer() is None


# The Nurse tests' helpers: a NATS connection that records subjects (real server).
from tests.nurse.conftest import bus  # noqa: E402, F401
