"""Structured JSON logs with trace ids; planted secrets never reach a log line or an export."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

from cio_site.logging import JsonFormatter, RedactingFilter, TraceContextFilter
from cio_site.redaction import MASK, redact, redact_data, secret_register, secret_values_reset
from tests.ops.collector import Collector

ROOT = Path(__file__).resolve().parents[2]


def _pipeline() -> tuple[logging.Logger, io.StringIO]:
    """A logger wired exactly like settings.LOGGING's console handler, into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter(service="petrosa-cio"))
    handler.addFilter(TraceContextFilter())
    handler.addFilter(RedactingFilter())
    log = logging.getLogger(f"tests.ops.{id(buffer)}")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    return log, buffer


def test_settings_wire_the_redaction_and_json_into_every_process() -> None:
    assert settings.LOGGING_CONFIG == "cio_site.logging.configure"
    console = settings.LOGGING["handlers"]["console"]
    assert console["filters"] == ["trace", "redact"]
    assert settings.LOGGING["formatters"]["json"]["()"] == "cio_site.logging.JsonFormatter"
    # Applied: the root logger's handler carries the redaction filter right now.
    root_filters = [type(f).__name__ for h in logging.getLogger().handlers for f in h.filters]
    assert "RedactingFilter" in root_filters
    # Django's own handlers (which would bypass the filter) are gone.
    assert logging.getLogger("django").handlers == []
    assert settings.CELERY_WORKER_HIJACK_ROOT_LOGGER is False


def test_json_line_has_trace_ids_of_the_current_span() -> None:
    log, buffer = _pipeline()
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("work") as span:
        log.info("decided %s", "approved", extra={"decision_id": "d-1"})
        ctx = span.get_span_context()
    log.warning("outside")
    first, second = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert first["message"] == "decided approved"
    assert first["trace_id"] == f"{ctx.trace_id:032x}"
    assert first["span_id"] == f"{ctx.span_id:016x}"
    assert first["decision_id"] == "d-1"
    assert first["level"] == "INFO" and first["logger"].startswith("tests.ops.")
    assert first["ts"].endswith("Z") and first["service"] == "petrosa-cio"
    assert second["trace_id"] == "" and second["level"] == "WARNING"


def test_planted_secrets_never_reach_a_log_line(settings: object, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    planted = {
        "SECRET_KEY": "django-planted-secret-key-4f8a9c2e71b6",
        "EMAIL_HOST_PASSWORD": "smtp-planted-Pa55word!",
        "STRATEGIST_LLM_API_KEY": "llm-planted-0123456789abcdef",
        "GRAFANA_API_TOKEN": "glsa_planted_grafana_token_98765",
    }
    for name, value in planted.items():
        setattr(settings, name, value)
    settings.DATABASE_URL = "postgres://cio:db-planted-pw-123@db:5432/cio"  # type: ignore[attr-defined]
    key_file = tmp_path / "binance-secret"
    key_file.write_text("binance-planted-file-secret-77\n")
    monkeypatch.setenv("BINANCE_API_SECRET_FILE", str(key_file))
    monkeypatch.setenv("BINANCE_API_KEY", "binance-planted-env-key-55")
    secret_values_reset()
    runtime = "runtime-registered-token-xyz"
    secret_register(runtime)
    everything = [*planted.values(), "db-planted-pw-123", "binance-planted-file-secret-77",
                  "binance-planted-env-key-55", runtime]
    log, buffer = _pipeline()
    log.error("login failed for %s with %s", "ops", planted["EMAIL_HOST_PASSWORD"])
    log.warning("connecting to %s", settings.DATABASE_URL)  # type: ignore[attr-defined]
    log.info("prompt context", extra={"prompt": f"key={planted['STRATEGIST_LLM_API_KEY']}",
                                      "headers": {"Authorization": "Bearer abc.def.ghi-123456"}})
    log.info("keys %s / %s / %s", "binance-planted-file-secret-77",
             "binance-planted-env-key-55", runtime)
    try:
        raise RuntimeError(f"exchange refused signature with secret {planted['SECRET_KEY']}")
    except RuntimeError:
        log.exception("call failed")
    log.info("api token cio_0123456789ab_%s used", "S" * 43)
    output = buffer.getvalue()
    for secret in everything:
        assert secret not in output, secret
    assert "S" * 43 not in output and "cio_0123456789ab_" in output  # prefix kept
    assert "abc.def.ghi-123456" not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert len(lines) == 6
    assert "RuntimeError" in lines[4]["exc"] and MASK in lines[4]["exc"]
    secret_values_reset()


def test_a_real_process_logs_json_without_its_planted_secrets(tmp_path: Path) -> None:
    """The production path: settings.LOGGING applied by Django in a fresh process."""
    secret_file = tmp_path / "llm-key"
    secret_file.write_text("sk-plantedplantedplanted12345\n")
    env = {**os.environ, "DJANGO_SECRET_KEY": "process-planted-secret-key-0987654321",
           "STRATEGIST_LLM_API_KEY_FILE": str(secret_file),
           "DATABASE_URL": "postgres://cio:proc-db-password-1@127.0.0.1:1/nope",
           "CIO_LOG_FORMAT": "json"}
    code = (
        "import django, logging; django.setup(); from django.conf import settings; "
        "log = logging.getLogger('ops.check'); "
        "log.warning('key=%s db=%s llm=%s', settings.SECRET_KEY, settings.DATABASE_URL, "
        "settings.STRATEGIST_LLM_API_KEY)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    line = next(entry for entry in lines if entry["logger"] == "ops.check")
    for secret in ("process-planted-secret-key-0987654321", "proc-db-password-1",
                   "sk-plantedplantedplanted12345"):
        assert secret not in result.stderr
    assert line["message"].count(MASK) >= 3


def test_otlp_log_export_is_redacted_and_correlated(otel: Collector) -> None:
    secret_register("otlp-planted-secret-value")
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("work") as span:
        logging.getLogger("ops.export").warning("leaking %s?", "otlp-planted-secret-value")
        trace_id = f"{span.get_span_context().trace_id:032x}"
    record = otel.wait_for(lambda c: next(
        (r for r in c.logs if "leaking" in str(r["body"])), None))
    assert "otlp-planted-secret-value" not in str(record)
    assert record["body"] == f"leaking {MASK}?"
    assert record["trace_id"] == trace_id


# --- the redaction function itself ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "kept"), [
    ("Authorization: Bearer eyJhbGciOi.abc-def_123", "Authorization: Bearer "),
    ("postgres://cio:s3cretpw@db:5432/cio", "@db:5432/cio"),
    ("password=hunter22 next", " next"),
    ('{"api_key": "abcd1234efgh"}', '{"api_key": '),
    ("token: ghp_" + "a" * 36, "token: "),
    ("key sk-ant-api03-" + "b" * 30, "key "),
    ("hook https://api.telegram.org/bot123456789:AAH" + "c" * 30 + "/sendMessage", "bot"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", ""),
    ("AWS AKIAABCDEFGHIJKLMNOP", "AWS "),
])
def test_shapes_of_credentials_are_masked(text: str, kept: str) -> None:
    out = redact(text)
    assert MASK in out and kept in out


@pytest.mark.parametrize("text", [
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "audit hash " + "ab" * 32,
    "tokens_used=1200 tokens_left=800",
    "decision blocked: CONFIG_CONFIDENCE_LOW confidence=0.1",
    "basic authentication is disabled",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_data_masks_secret_keys_and_values_recursively() -> None:
    data = {"model": "gpt", "api_key": "whatever", "messages": [
        {"role": "user", "content": "my password=opensesame1"}], "n": 3,
        "headers": {"X-Api-Key": "k"}, "nested": ("Bearer abcdefghij",)}
    out = redact_data(data)
    assert out["api_key"] == MASK and out["n"] == 3 and out["model"] == "gpt"
    assert "opensesame1" not in out["messages"][0]["content"]
    assert out["headers"]["X-Api-Key"] == MASK
    assert out["nested"] == (f"Bearer {MASK}",)
    assert data["api_key"] == "whatever"  # a copy: the input is untouched


@given(st.text(alphabet=st.characters(codec="ascii", categories=["L", "N", "P"]),
               min_size=8, max_size=64))
def test_any_registered_secret_is_masked_wherever_it_appears(secret: str) -> None:
    text = f"before {secret} after\n{secret}"
    out = redact(text, extra=[secret])
    assert secret not in out
