"""Strategist test setup: real PostgreSQL, Redis and NATS; LLM providers replaced only by a
real loopback HTTP server speaking their protocols (``llm_server.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings

from cio_site.celery import app as celery_app
from tests.strategist.llm_server import LLMServer, llm_server

QUEUE = f"{django_settings.CIO_NAMESPACE}.strategist"

VALID_TRACE = (
    "BTC and ETH realised volatility over four hours is more than twice its seven-day "
    "baseline and the fleet is six percent below its equity peak, so I cut global leverage "
    "and position size to keep the drawdown ladder from firing."
)


def proposal(**overrides: Any) -> str:
    body: dict[str, Any] = {
        "summary": "tighten global leverage in a high volatility regime",
        "thought_trace": VALID_TRACE,
        "confidence": 0.7,
        "patches": [{"scope": "global", "patch": {"leverage": 5}}],
        "state_changes": [],
    }
    body.update(overrides)
    return json.dumps(body)


@pytest.fixture(scope="session", autouse=True)
def _own_celery_queue() -> Iterator[None]:
    """Tasks enqueued on commit (alert deliveries, cycles) go to this run's own queue."""
    celery_app.conf.task_default_queue = QUEUE
    yield
    try:
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge(QUEUE)
    except Exception:  # noqa: S110  (the queue may never have been declared)
        pass


@pytest.fixture(autouse=True)
def _strategist_settings(settings: Any, tmp_path: Any) -> Iterator[None]:
    settings.VAR_DIR = tmp_path
    settings.STRATEGIST_LLM_PROVIDER = "rules"
    settings.STRATEGIST_LLM_BACKOFF_BASE_S = 0.01
    settings.STRATEGIST_LLM_BACKOFF_MAX_S = 0.2
    settings.STRATEGIST_LLM_TIMEOUT_S = 2.0
    settings.STRATEGIST_LLM_MAX_RETRIES = 2
    settings.STRATEGIST_MEMORY_EMBEDDER = "hashed"
    settings.STRATEGIST_CANARY_COMMAND = None
    settings.ALERT_EMAIL_TO = []
    settings.EMAIL_HOST = ""
    settings.GRAFANA_URL = None
    settings.ALERT_WEBHOOK_URL = None
    settings.ALERT_NATS_SUBJECT_PREFIX = f"{settings.CIO_NAMESPACE}.cio.alerts"
    yield
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(match=f"{django_settings.CIO_NAMESPACE}:*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def llm(settings: Any) -> Iterator[LLMServer]:
    """An OpenAI-compatible server on loopback; the strategist is pointed at it."""
    with llm_server() as server:
        settings.STRATEGIST_LLM_PROVIDER = "openai"
        settings.STRATEGIST_LLM_BASE_URL = server.base_url
        settings.STRATEGIST_LLM_MODEL = "test-model"
        settings.STRATEGIST_LLM_API_KEY = "sk-test-PLANTED-api-key-0123456789abcdef"
        yield server
