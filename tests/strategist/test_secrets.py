"""Secrets and keys never enter a prompt: planted in settings, the environment, a mounted
secret file and the context itself, none reaches any request body the LLM server sees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from governance.models import ActorKind
from governance.scopes import Scope
from governance.services import trading_state_set
from strategist.brain import MASK, redact, secret_values
from strategist.cycle import strategist_cycle_run
from strategist.memory.services import memory_add
from tests.strategist.conftest import proposal
from tests.strategist.llm_server import LLMServer, Reply, llm_server

pytestmark = pytest.mark.django_db

API_KEY = "sk-live-PLANTED-0123456789abcdefghijklmnop"
PLANTED = {
    "api_key": API_KEY,
    "django": "django-secret-PLANTED-9f8e7d6c5b4a",
    "smtp": "smtp-pass-PLANTED-4242",
    "grafana": "glsa_PLANTEDgrafanatoken000000000",
    "binance_env": "binance-secret-PLANTED-ABCDEF123456",
    "file_secret": "mounted-file-secret-PLANTED-777",
    "db_password": "pg-pass-PLANTED-31337",
    "cio_token": "cio_0123456789ab_PLANTEDtokensecretvalue0000",
}


@pytest.fixture
def planted(settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings.STRATEGIST_LLM_API_KEY = API_KEY
    settings.SECRET_KEY = PLANTED["django"]
    settings.EMAIL_HOST_PASSWORD = PLANTED["smtp"]
    settings.GRAFANA_API_TOKEN = PLANTED["grafana"]
    settings.REDIS_URL = settings.REDIS_URL  # unchanged: the real one must keep working
    settings.ALERT_WEBHOOK_URL = None
    monkeypatch.setenv("BINANCE_API_SECRET", PLANTED["binance_env"])
    secret_file = tmp_path / "engine-password"
    secret_file.write_text(PLANTED["file_secret"] + "\n")
    monkeypatch.setenv("ENGINE_PASSWORD_FILE", str(secret_file))
    db = dict(settings.DATABASES["default"])
    monkeypatch.setitem(settings.DATABASES["default"], "PASSWORD", PLANTED["db_password"])
    assert db  # restored by monkeypatch
    # Secrets that reach the context through ordinary data: a trading-state reason written by
    # a careless operator and a stored memory.
    trading_state_set(scope=Scope.symbol("BTCUSDT"), state="REDUCING", actor="ops",
                      actor_kind=ActorKind.USER,
                      reason=f"engine creds rotated: key={API_KEY} secret "
                             f"{PLANTED['binance_env']} token {PLANTED['cio_token']}")
    memory_add(kind="lesson", title="rotating the exchange keys",
               text=f"we pasted {PLANTED['file_secret']} and Bearer {PLANTED['grafana']} "
                    "into chat; never again (market regime volatility drawdown)")


def test_no_secret_in_any_request_body(planted: None, llm: LLMServer, settings: Any) -> None:
    settings.STRATEGIST_LLM_API_KEY = API_KEY
    llm.push(Reply(status=500, body={"error": {"message": "x"}}), Reply(text=proposal()))
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == "applied", cycle.error
    assert len(llm.requests) == 2
    for body in llm.bodies():
        for name, secret in PLANTED.items():
            assert secret not in body, f"{name} leaked into the prompt"
        assert MASK in body  # the planted values were there, and were masked
    # The key is used only where it belongs: the Authorization header.
    assert llm.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    stored = json.dumps(cycle.inputs)
    assert all(secret not in stored for secret in PLANTED.values())


def test_anthropic_bodies_are_clean_too(planted: None, settings: Any) -> None:
    with llm_server() as server:
        settings.STRATEGIST_LLM_PROVIDER = "anthropic"
        settings.STRATEGIST_LLM_BASE_URL = f"http://127.0.0.1:{server.port}/v1"
        settings.STRATEGIST_LLM_MODEL = "claude-test"
        settings.STRATEGIST_LLM_API_KEY = API_KEY
        server.push(Reply(text=proposal()))
        strategist_cycle_run(trigger="test")
        assert server.requests[0].path == "/v1/messages"
        for body in server.bodies():
            assert all(secret not in body for secret in PLANTED.values())


def test_redact_masks_values_keys_and_shapes(planted: None) -> None:
    values = secret_values()
    assert API_KEY in values and PLANTED["file_secret"] in values
    assert PLANTED["db_password"] in values
    out = redact({"password": "hunter2-is-long", "nested": [f"x {API_KEY} y"],
                  "url": "redis://user:s3cr3tpass@host:6379/0",
                  "note": "Authorization: Bearer abcdefghijklmnop1234",
                  "aws": "AKIAABCDEFGHIJKLMNOP", "ok": "leverage 5"})
    text = json.dumps(out)
    for leaked in ("hunter2-is-long", API_KEY, "s3cr3tpass", "abcdefghijklmnop1234",
                   "AKIAABCDEFGHIJKLMNOP"):
        assert leaked not in text
    assert out["ok"] == "leverage 5"
