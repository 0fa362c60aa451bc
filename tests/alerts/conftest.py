"""Alerts test setup: every channel starts unconfigured; tests turn on the ones they need
by pointing settings at real loopback servers (tests/alerts/servers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alerts.telemetry import telemetry_configure
from cio_site.celery import app as celery_app
from tests.alerts.servers import HttpSink, NatsListener, SmtpSink, http_sink, smtp_sink

QUEUE = f"{django_settings.CIO_NAMESPACE}.alerts"


@pytest.fixture(scope="session", autouse=True)
def _own_celery_queue() -> Iterator[None]:
    """Tasks enqueued on commit go to this run's own queue, never to a shared one."""
    celery_app.conf.task_default_queue = QUEUE
    yield
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(QUEUE)


@pytest.fixture(autouse=True)
def _alerts_settings(settings: Any, tmp_path: Any) -> Iterator[None]:
    redis_url = settings.REDIS_URL  # tests may point REDIS_URL at a dead port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = ""
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 3
    settings.ALERT_EMAIL_TO = []
    settings.GRAFANA_URL = None
    settings.GRAFANA_API_TOKEN = None
    settings.GRAFANA_WEBHOOK_URL = None
    settings.ALERT_WEBHOOK_URL = None
    settings.ALERT_WEBHOOK_FORMAT = "auto"
    settings.ALERT_WEBHOOK_CHAT_ID = None
    settings.ALERT_NATS_URL = settings.NATS_URL
    settings.ALERT_NATS_SUBJECT_PREFIX = f"{settings.CIO_NAMESPACE}.cio.alerts"
    settings.ALERT_OTLP_ENDPOINT = None
    settings.ALERT_HTTP_TIMEOUT_S = 3.0
    settings.ALERT_RATE_LIMIT_PER_MIN = 6000.0
    settings.ALERT_RATE_LIMIT_BURST = 1000
    settings.VAR_DIR = tmp_path
    yield
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{django_settings.CIO_NAMESPACE}:*", count=1000):
        client.delete(key)
    client.close()


@dataclass
class Otel:
    spans: InMemorySpanExporter
    logs: InMemoryLogRecordExporter
    metrics: InMemoryMetricReader

    def counter_total(self) -> int:
        data = self.metrics.get_metrics_data()
        total = 0
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == "cio.alerts":
                        total += sum(int(p.value) for p in metric.data.data_points)
        return total


@pytest.fixture(autouse=True)
def otel() -> Iterator[Otel]:
    """The SDK's in-memory exporters: in-process only, so OTel never confirms here."""
    bundle = Otel(InMemorySpanExporter(), InMemoryLogRecordExporter(), InMemoryMetricReader())
    telemetry_configure(span_exporters=[bundle.spans], log_exporters=[bundle.logs],
                        metric_readers=[bundle.metrics], remote=False)
    return bundle


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpSink]:
    with smtp_sink() as sink:
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = sink.port
        settings.ALERT_EMAIL_TO = ["ops@example.test", "cio@example.test"]
        yield sink


@pytest.fixture
def grafana(settings: Any) -> Iterator[HttpSink]:
    with http_sink() as sink:
        settings.GRAFANA_URL = sink.url + "/"
        settings.GRAFANA_API_TOKEN = "glsa_secret_token_123"
        yield sink


@pytest.fixture
def webhook(settings: Any) -> Iterator[HttpSink]:
    with http_sink() as sink:
        settings.ALERT_WEBHOOK_URL = sink.url + "/services/T000/B000/hooksecretXYZ"
        yield sink


@pytest.fixture
def nats_listener(settings: Any) -> Iterator[NatsListener]:
    listener = NatsListener(settings.NATS_URL, f"{settings.ALERT_NATS_SUBJECT_PREFIX}.>")
    yield listener
    listener.close()
