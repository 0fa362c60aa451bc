"""Nothing is lost when the Celery worker dies: a real worker (with embedded beat) is killed
with SIGKILL mid-outage and a new one finishes the job from the database outbox."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from alerts.models import Alert, AlertDelivery
from alerts.services import alert_raise
from tests.alerts.conftest import QUEUE
from tests.alerts.servers import HttpSink, free_port, smtp_sink

ROOT = Path(__file__).resolve().parents[2]
CELERY = ROOT / ".venv" / "bin" / "celery"

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _wait(condition: Callable[[], bool], what: str, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


class Worker:
    """``celery -A cio_site worker -B`` on this run's own queue, in its own process group."""

    def __init__(self, env: dict[str, str], log: Path, name: str) -> None:
        self.log = log
        self.handle = open(log, "ab")  # noqa: SIM115  (closed in stop())
        self.proc = subprocess.Popen(
            [str(CELERY), "-A", "cio_site", "worker", "-B", "-Q", QUEUE, "-c", "1",
             "-n", f"{name}@%h", "-l", "info", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-s", str(log.with_suffix(".beat"))],
            cwd=ROOT, env=env, stdout=self.handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=20)
        self.handle.close()


@pytest.fixture
def worker_env(settings: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with redis.Redis.from_url(django_settings.REDIS_URL) as client:
        client.delete(QUEUE)
    yield {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "CIO_NAMESPACE": django_settings.CIO_NAMESPACE,
        "CIO_VAR_DIR": str(tmp_path),
        "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
        "EMAIL_USE_TLS": "false",
        "ALERT_EMAIL_TO": "ops@example.test",
        "ALERT_NATS_SUBJECT_PREFIX": settings.ALERT_NATS_SUBJECT_PREFIX,
        "ALERT_DELIVER_INTERVAL_S": "1",
        "ALERT_WATCHDOG_INTERVAL_S": "3600",
        "ALERT_BACKOFF_BASE_S": "0.5",
        "ALERT_BACKOFF_MAX_S": "1",
        "ALERT_CLAIM_LEASE_S": "2",
        "ALERT_RATE_LIMIT_PER_MIN": "6000",
    }
    with redis.Redis.from_url(django_settings.REDIS_URL) as client:
        client.delete(QUEUE)


def test_a_killed_worker_loses_nothing(worker_env: dict[str, Any], grafana: HttpSink,
                                       redis_client: redis.Redis, tmp_path: Path) -> None:
    smtp_port, dead_nats = free_port(), free_port()
    env = {**worker_env, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_port),
           "GRAFANA_URL": grafana.url, "GRAFANA_API_TOKEN": "glsa_secret_token_123",
           "ALERT_NATS_URL": f"nats://127.0.0.1:{dead_nats}"}
    degraded_key = f"{django_settings.CIO_NAMESPACE}:alerts:degraded"
    grafana.mode = "fail"  # and nothing listens on the SMTP and NATS ports: all down

    # Raised while no worker runs: the on-commit task waits in the broker, the rows in the DB.
    alert = alert_raise(severity="critical", category="drawdown_ladder", source="fleet",
                        message="drawdown ladder stepped to HALTED", dedup_key="ladder")

    def attempts(channel: str) -> int:
        return AlertDelivery.objects.get(alert=alert, channel=channel).attempts

    first = Worker(env, tmp_path / "worker1.log", "alerts-test-1")
    try:
        _wait(lambda: min(attempts("email"), attempts("grafana"), attempts("nats")) >= 2,
              "the first worker to retry every channel")
        _wait(lambda: redis_client.get(degraded_key) == b"1", "DEGRADED")
    finally:
        first.kill(signal.SIGKILL)  # a crash, not a shutdown
    alert.refresh_from_db()
    assert alert.delivered_at is None
    statuses = dict(AlertDelivery.objects.filter(alert=alert).values_list("channel", "status"))
    assert statuses == {"email": "retrying", "grafana": "retrying", "nats": "retrying",
                        "grafana_webhook": "skipped", "webhook": "skipped", "otel": "emitted"}
    assert grafana.to("/api/annotations")

    # The receivers come back; a new worker picks the outbox up from the database.
    grafana.mode = "ok"
    with smtp_sink(port=smtp_port) as smtp:
        second = Worker(env, tmp_path / "worker2.log", "alerts-test-2")
        try:
            _wait(lambda: Alert.objects.get(pk=alert.pk).delivered_at is not None,
                  "the second worker to deliver")
            _wait(lambda: AlertDelivery.objects.get(alert=alert, channel="grafana").status
                  == "confirmed" and len(smtp.handler.envelopes) == 1, "email and grafana")
            _wait(lambda: redis_client.get(degraded_key) == b"0", "healthy again")
        finally:
            second.kill(signal.SIGTERM)
        assert len(smtp.handler.envelopes) == 1
    nats = AlertDelivery.objects.get(alert=alert, channel="nats")
    assert nats.status == "retrying"
    assert nats.attempts >= 3
    assert "NoServersError" in nats.last_error
    log = (tmp_path / "worker2.log").read_text()
    assert "glsa_secret_token_123" not in log + (tmp_path / "worker1.log").read_text()
