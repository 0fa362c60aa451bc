"""A committed governance change reaches Redis and is announced on NATS."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings

from governance import policy, services
from governance.models import ActorKind
from governance.scopes import Scope

pytestmark = pytest.mark.django_db(transaction=True)


async def test_patch_publishes_snapshot_to_redis_and_announces(redis_client: redis.Redis) -> None:
    nc = await nats.connect(settings.NATS_URL)
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_msg(msg: Any) -> None:
        await received.put(json.loads(msg.data))

    await nc.subscribe(policy.POLICY_UPDATED_SUBJECT, cb=on_msg)
    await nc.flush()
    version = await sync_to_async(services.config_patch)(
        scope=Scope.symbol("BTCUSDT"), patch={"leverage": 7}, base_version=0, actor="alice",
        actor_kind=ActorKind.USER, reason="test", trace_id="b" * 32,
    )
    event = await asyncio.wait_for(received.get(), timeout=5)
    while event["trace_id"] != "b" * 32:  # other runs may share this NATS server
        event = await asyncio.wait_for(received.get(), timeout=5)
    await nc.close()
    assert event["policy_version"] == version.policy_version
    assert event["scopes"] == ["symbol:BTCUSDT"]
    snapshot = json.loads(redis_client.get(policy.snapshot_key()) or b"{}")
    assert snapshot["policy_version"] == version.policy_version
    assert snapshot["scopes"]["symbol:BTCUSDT"] == {"leverage": 7}
    assert snapshot["hard_gates"]["max_leverage"] == 20
    assert int(redis_client.get(policy.version_key()) or 0) == version.policy_version


def test_reconcile_republishes_when_redis_lags(redis_client: redis.Redis) -> None:
    services.trading_state_set(scope=Scope.global_(), state="HALTED", actor="a",
                               actor_kind=ActorKind.USER, reason="test")
    redis_client.delete(policy.snapshot_key(), policy.version_key())
    assert policy.policy_reconcile() is True
    snapshot = json.loads(redis_client.get(policy.snapshot_key()) or b"{}")
    assert snapshot["states"]["global"]["state"] == "HALTED"
    assert policy.policy_reconcile() is False
