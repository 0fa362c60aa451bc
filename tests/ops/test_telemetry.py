"""OpenTelemetry end to end: off by default, one trace from intent to engine signal, decision
record and audit row; Django under ASGI, Celery and metrics exported over real OTLP/HTTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import nats
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test import AsyncClient, Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from cio_site import telemetry
from cio_site.telemetry import OtelConfig, otel_config
from governance import services
from governance.auth import api_token_create
from governance.models import ActorKind, AuditEvent
from governance.scopes import Scope
from nurse.gate import Gate
from nurse.models import DecisionRecord
from nurse.rules import RULES
from nurse.runner import NurseRunner
from nurse.services import DEFAULT_EXCHANGE_INFO, exchange_info_store
from nurse.settings_bridge import nurse_config_from_settings
from nurse.sink import AuditSink
from tests.nurse.conftest import Bus, make_intent, start_nurse, unique_strategy, wait_for_version
from tests.ops.collector import Collector

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT_SPAN}-01"


# --- configuration and the default ---------------------------------------------------------------


def test_config_is_off_unless_an_exporter_or_endpoint_is_set() -> None:
    assert otel_config({}) == OtelConfig()
    assert not otel_config({}).enabled
    on = otel_config({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert (on.traces, on.metrics, on.logs) == ("otlp", "otlp", "otlp")
    partial = otel_config({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces",
                           "OTEL_METRICS_EXPORTER": "console"})
    assert (partial.traces, partial.metrics, partial.logs) == ("otlp", "console", "none")
    assert otel_config({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                        "OTEL_LOGS_EXPORTER": "none"}).logs == "none"
    assert not otel_config({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                            "OTEL_SDK_DISABLED": "true"}).enabled
    assert not otel_config({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}).enabled


@pytest.mark.parametrize("env", [
    {"OTEL_TRACES_EXPORTER": "jaeger"},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
])
def test_config_fails_loudly_on_what_is_not_installed(env: dict[str, str]) -> None:
    with pytest.raises(ImproperlyConfigured):
        otel_config(env)


def test_tracing_off_by_default_means_no_span_work_in_the_gate() -> None:
    # The test environment sets no OTEL_* variable: Django's logging hook ran setup() and
    # installed nothing.
    assert not telemetry.enabled()
    assert telemetry.intent_tracer() is None
    runner = NurseRunner(nurse_config_from_settings())  # not started: no connections
    assert runner.observer is None
    assert runner.gate.tracer is None
    gate = Gate(instance="t")
    verdict = gate.decide_local(json.dumps(make_intent()).encode(),
                                header_traceparent=TRACEPARENT)
    pending = gate.prepare(json.dumps(make_intent()).encode(), header_traceparent=TRACEPARENT,
                           received=0.0)
    assert pending.span is None
    assert verdict.traceparent[3:35] == TRACE


# --- the acceptance: one trace id from the intent to the audit row --------------------------------


async def _running_nurse() -> NurseRunner:
    await sync_to_async(exchange_info_store)(info=json.loads(DEFAULT_EXCHANGE_INFO.read_text()))
    await sync_to_async(services.trading_state_set)(
        scope=Scope.global_(), state="ACTIVE", actor="test", actor_kind=ActorKind.USER,
        reason="test setup")
    runner = await start_nurse()
    assert runner.ledger is not None
    await runner.ledger.replace_positions([])
    from governance.selectors import policy_version_current

    await wait_for_version(runner, await sync_to_async(policy_version_current)())
    return runner


async def _fresh_sink() -> tuple[AuditSink, Any]:
    """The real audit sink on a consumer of its own that starts at the stream's end."""
    durable = f"ops-{uuid.uuid4().hex[:8]}"
    nc = await nats.connect(settings.NATS_URL)
    js = nc.jetstream()
    await js.add_consumer(settings.NURSE_DECISION_STREAM, ConsumerConfig(
        durable_name=durable, deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.EXPLICIT,
        filter_subject=f"{settings.NURSE_DECISION_SUBJECT_PREFIX}.>", ack_wait=30))
    sink = AuditSink(nats_url=settings.NATS_URL, stream=settings.NURSE_DECISION_STREAM,
                     subject_prefix=settings.NURSE_DECISION_SUBJECT_PREFIX, durable=durable,
                     batch=50)
    return sink, (nc, js, durable)


async def _record(decision_id: str, timeout: float = 10) -> DecisionRecord:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        row = await DecisionRecord.objects.filter(decision_id=decision_id).afirst()
        if row is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"decision {decision_id} never reached the database")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("carrier", ["header", "payload"])
async def test_one_trace_runs_from_intent_to_signal_record_and_span(
        otel: Collector, bus: Bus, redis_client: object, carrier: str) -> None:
    runner = await _running_nurse()
    assert runner.gate.tracer is not None  # started after setup(): the gate traces
    sink, (nc, js, durable) = await _fresh_sink()
    sink_task = asyncio.create_task(sink.run())
    try:
        sid = unique_strategy()
        signals = await bus.watch(f"signals.trading.{sid}")
        intent = make_intent(strategy_id=sid)
        headers = None
        if carrier == "header":
            headers = {"traceparent": TRACEPARENT}
        else:
            intent["_otel_trace_context"] = {"traceparent": TRACEPARENT}
        await bus.publish(f"cio.intent.trading.{sid}", intent, headers=headers)
        msg = await asyncio.wait_for(signals.get(), timeout=5)
        body = json.loads(msg.data)
        published = body["_otel_trace_context"]["traceparent"]
        # 1. the signal continues the intent's trace, in the payload and the NATS header;
        assert published == msg.headers["traceparent"]
        assert published[3:35] == TRACE and published[36:52] != PARENT_SPAN
        # 2. the decision record stored by the audit sink carries the same trace;
        record = await _record(body["decision_id"])
        assert record.trace_id == TRACE
        assert record.traceparent == published
        # 3. the gate's span IS the published context: same trace id and span id, child of
        #    the intent's span, with the decision, reason codes and policy version.
        span = await asyncio.to_thread(otel.wait_for, lambda c: next(
            (s for s in c.spans if s["name"] == "cio.gate.decide"
             and s["span_id"] == published[36:52]), None))
        assert span["trace_id"] == TRACE
        assert span["parent_span_id"] == PARENT_SPAN
        attrs = span["attributes"]
        assert attrs["cio.decision"] == "approved"
        assert attrs["cio.reason_codes"] == []
        assert attrs["cio.policy_version"] == runner.gate.policy.version  # type: ignore[union-attr]
        assert attrs["cio.decision_id"] == body["decision_id"]
        assert span["resource"]["service.name"] == "petrosa-cio"
        # 4. one child span per rule, inside the intent's span (sampled: parent flag 01).
        rules = await asyncio.to_thread(otel.wait_for, lambda c: [
            s for s in c.spans if s["parent_span_id"] == published[36:52]])
        assert sorted(s["attributes"]["cio.rule"] for s in rules) == sorted(r.name for r in RULES)
        assert all(s["trace_id"] == TRACE for s in rules)
    finally:
        sink.request_stop()
        await asyncio.wait_for(sink_task, 10)
        await js.delete_consumer(settings.NURSE_DECISION_STREAM, durable)
        await nc.close()
        await runner.stop()
        await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_blocked_intent_span_names_the_rule_and_reason(
        otel: Collector, bus: Bus, redis_client: object) -> None:
    runner = await _running_nurse()
    try:
        sid = unique_strategy()
        blocked = await bus.watch(f"cio.nurse.blocked.{sid}")
        await bus.publish(f"cio.intent.trading.{sid}",
                          make_intent(strategy_id=sid, confidence=0.1),
                          headers={"traceparent": TRACEPARENT})
        msg = await asyncio.wait_for(blocked.get(), timeout=5)
        event = json.loads(msg.data)
        assert msg.headers["traceparent"] == event["traceparent"]
        span_id = event["traceparent"][36:52]
        span = await asyncio.to_thread(otel.wait_for, lambda c: next(
            (s for s in c.spans if s["span_id"] == span_id), None))
        assert span["attributes"]["cio.decision"] == "blocked"
        assert span["attributes"]["cio.reason_codes"] == ["CONFIG_CONFIDENCE_LOW"]
        culprits = await asyncio.to_thread(otel.wait_for, lambda c: [
            s for s in c.spans if s["parent_span_id"] == span_id
            and "cio.reason_codes" in s["attributes"]])
        assert [s["attributes"]["cio.reason_codes"] for s in culprits] == [
            ["CONFIG_CONFIDENCE_LOW"]]
        # The gate's metrics went out over OTLP too.
        names = await asyncio.to_thread(otel.wait_for, lambda c: {
            m["name"] for m in c.metrics} >= {"cio.gate.decisions", "cio.gate.latency"})
        assert names
    finally:
        await runner.stop()
        await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_unsampled_parent_gets_no_rule_spans_and_keeps_its_flag(
        otel: Collector, bus: Bus, redis_client: object) -> None:
    runner = await _running_nurse()
    try:
        sid = unique_strategy()
        signals = await bus.watch(f"signals.trading.{sid}")
        unsampled = f"00-{TRACE}-{PARENT_SPAN}-00"
        await bus.publish(f"cio.intent.trading.{sid}", make_intent(strategy_id=sid),
                          headers={"traceparent": unsampled})
        body = json.loads((await asyncio.wait_for(signals.get(), timeout=5)).data)
        published = body["_otel_trace_context"]["traceparent"]
        assert published.startswith(f"00-{TRACE}-") and published.endswith("-00")
        await asyncio.sleep(0.3)
        telemetry.force_flush()
        assert not [s for s in otel.spans if s["trace_id"] == TRACE
                    and s["span_id"] == published[36:52]]
    finally:
        await runner.stop()
        await sync_to_async(connections.close_all)()


# --- the web app: Django under ASGI, and the audit row of an API write ---------------------------


def _halt_body() -> dict[str, Any]:
    return {"scope": f"strategy:s-{uuid.uuid4().hex[:8]}", "reason": "ops trace test"}


@pytest.mark.django_db
def test_api_write_audit_row_carries_the_callers_trace_id_without_otel(
        redis_client: object) -> None:
    _, token = api_token_create(principal="ops", scopes=["read", "state:write"],
                                created_by="test")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post("/api/v1/trading-state/halt", _halt_body(),
                           content_type="application/json", HTTP_TRACEPARENT=TRACEPARENT)
    assert response.status_code == 200, response.content
    assert response.json()["trace_id"] == TRACE == response["X-Trace-Id"]
    assert AuditEvent.objects.order_by("-seq").first().trace_id == TRACE  # type: ignore[union-attr]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sent", [True, False])
async def test_asgi_request_span_is_the_trace_of_the_envelope_and_audit_row(
        otel: Collector, redis_client: object, sent: bool) -> None:
    _, token = await sync_to_async(api_token_create)(
        principal="ops", scopes=["read", "state:write"], created_by="test")
    client = AsyncClient()  # requests are ASGIRequest, as under daphne
    extra = {"Authorization": f"Bearer {token}"}
    if sent:
        extra["traceparent"] = TRACEPARENT
    try:
        response = await client.post("/api/v1/trading-state/halt", _halt_body(),
                                     content_type="application/json", headers=extra)
        assert response.status_code == 200, response.content
        trace_id = response.json()["trace_id"]
        assert trace_id == response["X-Trace-Id"]
        if sent:
            assert trace_id == TRACE
        event = await AuditEvent.objects.order_by("-seq").afirst()
        assert event is not None and event.trace_id == trace_id
        span = await asyncio.to_thread(otel.wait_for, lambda c: next(
            (s for s in c.spans if s["trace_id"] == trace_id and s["kind"] == 2), None))
        assert span["scope"].startswith("opentelemetry.instrumentation.django")
        assert span["parent_span_id"] == (PARENT_SPAN if sent else "")
    finally:
        await sync_to_async(connections.close_all)()


@pytest.mark.django_db
def test_probes_and_scrapes_make_no_spans(otel: Collector) -> None:
    assert Client().get("/api/v1/health/live").status_code == 200
    telemetry.force_flush()
    assert not [s for s in otel.spans if "health" in json.dumps(s["attributes"])]


# --- Celery ------------------------------------------------------------------------------


def test_celery_task_runs_in_a_span(otel: Collector) -> None:
    from cio_site.celery import app

    @app.task(name="tests.ops.echo", shared=False)
    def echo(value: int) -> int:
        return value

    assert echo.apply(args=(7,)).get() == 7
    span = otel.wait_for(lambda c: next(
        (s for s in c.spans if s["name"] == "run/tests.ops.echo"), None))
    assert span["attributes"]["celery.task_name"] == "tests.ops.echo"


@pytest.mark.django_db(transaction=True)
async def test_mcp_requests_are_traced_too(otel: Collector) -> None:
    """``/mcp`` is not served by Django: the ASGI instrumentation traces it, refusals too."""
    from cio_site.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        response = await http.post("/mcp", json=call, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 401
    span = await asyncio.to_thread(otel.wait_for, lambda c: next(
        (s for s in c.spans if s["trace_id"] == TRACE and s["kind"] == 2), None))
    assert span["scope"].startswith("opentelemetry.instrumentation.asgi")
    assert span["parent_span_id"] == PARENT_SPAN
    assert span["attributes"].get("http.response.status_code",
                                  span["attributes"].get("http.status_code")) == 401
