"""The dashboard websocket against the Redis channel layer (``WebsocketCommunicator``).

The consumer must accept only staff sessions that passed the TOTP step (django-otp's
middleware does not run for websockets), join the group, and forward group events.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import nats
import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from governance import services
from governance.dashboard.bridge import BridgeConfig, DashboardBridge
from governance.dashboard.events import KIND_ROWS, abroadcast, group_name
from governance.models import ActorKind
from governance.scopes import Scope
from tests.dashboard.conftest import Operator, otp_login

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def _application() -> Any:
    from cio_site.asgi import application

    return application


def _verified_cookie(op: Operator) -> str:
    client = Client()
    otp_login(client, op)
    return client.cookies["sessionid"].value


def _password_only_cookie(op: Operator) -> str:
    client = Client()
    client.force_login(get_user_model().objects.get(username=op.username))
    return client.cookies["sessionid"].value


def communicator(session: str | None, origin: tuple[bytes, bytes] = ORIGIN
                 ) -> WebsocketCommunicator:
    headers = [origin, (b"host", b"127.0.0.1:8000")]
    if session:
        headers.append((b"cookie", f"sessionid={session}".encode()))
    return WebsocketCommunicator(_application(), "/ws/dashboard/", headers=headers)


async def connected(session: str) -> WebsocketCommunicator:
    comm = communicator(session)
    ok, code = await comm.connect(timeout=5)
    assert ok, code
    hello = await comm.receive_json_from(timeout=5)
    assert hello["kind"] == "hello"
    assert hello["max_rows_per_s"] == settings.DASHBOARD_MAX_ROWS_PER_S
    return comm


async def test_anonymous_sockets_are_refused(redis_client: Any) -> None:
    comm = communicator(None)
    ok, code = await comm.connect(timeout=5)
    assert not ok and code == 4403


async def test_a_session_without_the_totp_step_is_refused(operator: Operator,
                                                          redis_client: Any) -> None:
    cookie = await sync_to_async(_password_only_cookie)(operator)
    comm = communicator(cookie)
    ok, code = await comm.connect(timeout=5)
    assert not ok and code == 4403


async def test_a_foreign_origin_is_refused(operator: Operator, redis_client: Any) -> None:
    cookie = await sync_to_async(_verified_cookie)(operator)
    comm = communicator(cookie, origin=(b"origin", b"https://evil.example"))
    ok, _ = await comm.connect(timeout=5)
    assert not ok


async def test_a_removed_device_or_staff_flag_ends_access(operator: Operator,
                                                          redis_client: Any) -> None:
    cookie = await sync_to_async(_verified_cookie)(operator)
    await TOTPDevice.objects.filter(user__username=operator.username).adelete()
    comm = communicator(cookie)
    ok, code = await comm.connect(timeout=5)
    assert not ok and code == 4403

    other = Operator(f"ops-{uuid.uuid4().hex[:6]}", operator.password, operator.secret)
    from governance.operators import operator_upsert

    await sync_to_async(operator_upsert)(username=other.username, password=other.password,
                                         totp_secret_b32=other.secret, superuser=False)
    cookie = await sync_to_async(_verified_cookie)(other)
    await get_user_model().objects.filter(username=other.username).aupdate(is_staff=False)
    comm = communicator(cookie)
    ok, code = await comm.connect(timeout=5)
    assert not ok and code == 4403


async def test_verified_sockets_join_the_group_and_get_its_events(operator: Operator,
                                                                  redis_client: Any) -> None:
    cookie = await sync_to_async(_verified_cookie)(operator)
    first, second = await connected(cookie), await connected(cookie)
    event = {"kind": KIND_ROWS, "seq": 1, "rows": [{"decision_id": "d1"}], "omitted": 0}
    await abroadcast(event)
    assert await first.receive_json_from(timeout=5) == event
    assert await second.receive_json_from(timeout=5) == event
    await first.send_json_to({"kind": "ping", "t": 1})
    assert await first.receive_json_from(timeout=5) == {"kind": "pong", "t": 1}
    # The group really lives in Redis (the namespaced channel layer), not in memory.
    keys = [k.decode() for k in redis_client.scan_iter(match=f"{settings.CIO_NAMESPACE}:asgi*")]
    assert any(group_name() in k for k in keys), keys
    await first.disconnect()
    await abroadcast({"kind": "state", "state": "HALTED"})
    assert (await second.receive_json_from(timeout=5))["state"] == "HALTED"
    await second.disconnect()


async def test_a_logout_ends_the_stream_at_the_next_keepalive(operator: Operator,
                                                               redis_client: Any) -> None:
    client = Client()
    await sync_to_async(otp_login)(client, operator)
    comm = await connected(client.cookies["sessionid"].value)
    await comm.send_json_to({"kind": "ping", "t": 1})
    assert (await comm.receive_json_from(timeout=5))["kind"] == "pong"
    await sync_to_async(client.post)("/accounts/logout/")
    await comm.send_json_to({"kind": "ping", "t": 2})
    closed = await comm.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4403}


async def _receive_kind(comm: WebsocketCommunicator, kind: str, timeout: float = 5.0,
                        match: Any = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {kind} event within {timeout}s"
        event = await comm.receive_json_from(timeout=left)
        if event["kind"] == kind and (match is None or match(event)):
            return event


async def test_the_bridge_fans_decisions_and_state_out_to_sockets(operator: Operator,
                                                                  redis_client: Any) -> None:
    """NATS decision subjects and policy announcements -> bridge -> channel layer -> socket."""
    cookie = await sync_to_async(_verified_cookie)(operator)
    bridge = DashboardBridge(BridgeConfig(
        nats_url=settings.NATS_URL, redis_url=settings.REDIS_URL,
        namespace=settings.CIO_NAMESPACE, decision_prefix=settings.NURSE_DECISION_SUBJECT_PREFIX,
        tick_s=0.05, max_rows_per_s=40), layer=get_channel_layer())
    await bridge.start()
    comm = await connected(cookie)
    nc = await nats.connect(settings.NATS_URL)
    try:
        signal_id = uuid.uuid4().hex
        body = {"decision_id": uuid.uuid4().hex, "signal_id": signal_id, "strategy_id": "s-ws",
                "symbol": "BTCUSDT", "action": "buy", "quantity": 0.01, "notional": 500.0,
                "outcome": "blocked", "reasons": [{"code": "STATE_HALTED", "detail": "x=1"}],
                "latency_us": 80, "policy_version": 1, "decided_at": "2026-01-01T00:00:00Z"}
        prefix = settings.NURSE_DECISION_SUBJECT_PREFIX
        await nc.publish(f"{prefix}.blocked.s-ws", json.dumps(body).encode())
        await nc.flush()
        rows = await _receive_kind(comm, KIND_ROWS, match=lambda e: e["rows"])
        assert rows["rows"][0]["signal_id"] == signal_id
        assert rows["rows"][0]["reasons"][0]["code"] == "STATE_HALTED"
        stats = await _receive_kind(comm, "stats", timeout=5,
                                    match=lambda e: e["point"]["decisions"] > 0)
        assert stats["point"]["blocked"] == 1 and stats["rules"] == {"STATE_HALTED": 1}

        # A state change made anywhere (here: the service the admin and API use) is pushed.
        await sync_to_async(services.trading_state_set)(
            scope=Scope.global_(), state="HALTED", actor="test", actor_kind=ActorKind.USER,
            reason="consumer test")
        state = await _receive_kind(comm, "state", timeout=5,
                                    match=lambda e: e["state"] == "HALTED")
        assert state["policy_version"] >= 1
        # ...and the polling fallback's snapshot follows.
        await asyncio.sleep(1.2)
        snap = json.loads(redis_client.get(f"{settings.CIO_NAMESPACE}:dashboard:live"))
        assert snap["state"]["state"] == "HALTED"
        assert any(r["signal_id"] == signal_id for r in snap["rows"])
    finally:
        await comm.disconnect()
        await nc.close()
        await bridge.stop()
