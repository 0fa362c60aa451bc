"""Prometheus: the web app's /metrics (who may scrape) and the Nurse's ops port."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from governance.auth import api_token_create
from tests.nurse.conftest import Bus, make_intent, unique_strategy
from tests.ops.test_telemetry import _running_nurse

SCRAPE = "scrape-secret-for-prometheus-only-123"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _token(scopes: list[str]) -> str:
    return api_token_create(principal="scraper", scopes=scopes, created_by="test")[1]


@pytest.mark.django_db
def test_web_metrics_need_the_scrape_secret_or_a_read_token(
        settings: Any, redis_client: redis.Redis) -> None:
    settings.CIO_METRICS_TOKEN = SCRAPE
    client = Client()
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    for scopes in (["agent"], ["config:write", "state:write"]):
        denied = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {_token(scopes)}")
        assert denied.status_code == 403, scopes
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {SCRAPE}").status_code == 405
    reader = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {_token(['read'])}")
    assert reader.status_code == 200
    scraped = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {SCRAPE}")
    assert scraped.status_code == 200
    assert scraped["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_web_metrics_report_nurse_heartbeat_age_and_policy_versions(
        settings: Any, redis_client: redis.Redis) -> None:
    settings.CIO_METRICS_TOKEN = SCRAPE
    key = f"{settings.CIO_NAMESPACE}:nurse:instances"
    redis_client.hset(key, "nurse-a", json.dumps({"timestamp": time.time() - 42,
                                                  "policy_version": 9}))
    text = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {SCRAPE}").content.decode()
    samples = _samples(text)
    age = samples[("cio_nurse_heartbeat_age_seconds", (("instance", "nurse-a"),))]
    assert 41 <= age <= 60
    assert samples[("cio_nurse_policy_version", (("instance", "nurse-a"),))] == 9
    assert ("cio_policy_version_current", ()) in samples
    assert samples[("cio_metrics_source_up", (("source", "redis"),))] == 1
    assert samples[("cio_metrics_source_up", (("source", "database"),))] == 1


@pytest.mark.django_db
def test_web_metrics_survive_a_dead_redis(settings: Any) -> None:
    settings.CIO_METRICS_TOKEN = SCRAPE
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {SCRAPE}")
    assert response.status_code == 200
    samples = _samples(response.content.decode())
    assert samples[("cio_metrics_source_up", (("source", "redis"),))] == 0


@pytest.mark.django_db(transaction=True)
async def test_nurse_ops_port_serves_probes_and_gate_metrics(
        settings: Any, bus: Bus, redis_client: redis.Redis) -> None:
    settings.CIO_NURSE_OPS_PORT = 0  # any free port
    settings.CIO_NURSE_OPS_HOST = "127.0.0.1"
    runner = await _running_nurse()
    try:
        assert runner.observer is not None and runner.gate.tracer is None  # metrics only
        port = runner.observer.bound_port
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(f"{base}/livez")).json() == {"status": "ok"}
            ready = await http.get(f"{base}/readyz")
            assert ready.status_code == 200
            assert ready.json()["ready"] is True and ready.json()["nats"] == "ok"
            sid = unique_strategy()
            signals = await bus.watch(f"signals.trading.{sid}")
            blocked = await bus.watch(f"cio.nurse.blocked.{sid}")
            await bus.publish(f"cio.intent.trading.{sid}", make_intent(strategy_id=sid))
            await bus.publish(f"cio.intent.trading.{sid}",
                              make_intent(strategy_id=sid, confidence=0.1, quantity=0.02))
            await asyncio.wait_for(signals.get(), 5)
            await asyncio.wait_for(blocked.get(), 5)
            approved = ("cio_gate_decisions_total", (("outcome", "approved"), ("reason", "none")))
            low = ("cio_gate_decisions_total",
                   (("outcome", "blocked"), ("reason", "CONFIG_CONFIDENCE_LOW")))
            for _ in range(100):  # recorded right after the batch's last publish
                samples = _samples((await http.get(f"{base}/metrics")).text)
                if approved in samples and low in samples:
                    break
                await asyncio.sleep(0.02)
            assert samples[approved] >= 1 and samples[low] >= 1
            assert samples[("cio_gate_reasons_total", (("reason", "CONFIG_CONFIDENCE_LOW"),))] >= 1
            assert samples[("cio_gate_latency_seconds_count", ())] >= 2
            policy = runner.gate.policy
            assert policy is not None
            assert samples[("cio_gate_policy_version", ())] == policy.version
            assert samples[("cio_gate_nats_connected", ())] == 1
            assert (await http.post(f"{base}/livez")).status_code == 405
            assert (await http.get(f"{base}/nope")).status_code == 404
            # With a scrape secret configured, the gate's metrics need it too (probes don't).
            settings.CIO_METRICS_TOKEN = SCRAPE
            assert (await http.get(f"{base}/metrics")).status_code == 401
            ok = await http.get(f"{base}/metrics", headers={"Authorization": f"Bearer {SCRAPE}"})
            assert ok.status_code == 200
            assert (await http.get(f"{base}/livez")).status_code == 200
    finally:
        await runner.stop()
        await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_nurse_not_ready_without_nats(settings: Any, redis_client: redis.Redis) -> None:
    settings.CIO_NURSE_OPS_PORT = 0
    settings.CIO_NURSE_OPS_HOST = "127.0.0.1"
    runner = await _running_nurse()
    try:
        assert runner.observer is not None
        base = f"http://127.0.0.1:{runner.observer.bound_port}"
        await runner.nc.close()
        async with httpx.AsyncClient(timeout=5) as http:
            ready = await http.get(f"{base}/readyz")
            assert ready.status_code == 503 and ready.json()["nats"] == "down"
            assert (await http.get(f"{base}/livez")).status_code == 200
    finally:
        await runner.stop()
        await sync_to_async(connections.close_all)()


def test_metrics_setting_defaults_cost_nothing() -> None:
    # No ops port unless configured: the Nurse records no metric at all by default.
    assert settings.CIO_NURSE_OPS_PORT is None
