"""Fixtures for black-box gate tests: a running Nurse on real NATS and Redis."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from governance import services
from governance.models import ActorKind
from governance.scopes import Scope
from nurse.runner import NurseRunner
from nurse.services import DEFAULT_EXCHANGE_INFO, exchange_info_store
from nurse.settings_bridge import nurse_config_from_settings


def make_intent(**overrides: Any) -> dict[str, Any]:
    """A valid BTCUSDT long entry worth 500 USD (inside every default limit)."""
    intent: dict[str, Any] = {
        "strategy_id": "s-test",
        "symbol": "BTCUSDT",
        "action": "buy",
        "confidence": 0.8,
        "price": 50000.0,
        "current_price": 50000.0,
        "quantity": 0.01,
        "stop_loss": 49000.0,
        "take_profit": 52000.0,
        "source": "momentum-bot",
        "strategy": "momentum",
        "timestamp": datetime.now(UTC).isoformat(),
        "signal_id": uuid.uuid4().hex,
    }
    intent.update(overrides)
    return {k: v for k, v in intent.items() if v is not None}


def unique_strategy() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


class Bus:
    """A NATS connection that records what arrives on subscribed subjects."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self.queues: dict[str, asyncio.Queue[Any]] = {}

    async def watch(self, subject: str) -> asyncio.Queue[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def cb(msg: Any) -> None:
            await queue.put(msg)

        await self.nc.subscribe(subject, cb=cb)
        await self.nc.flush()
        self.queues[subject] = queue
        return queue

    async def publish(self, subject: str, body: dict[str, Any] | bytes,
                      headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        await self.nc.publish(subject, data, headers=headers)
        await self.nc.flush()

    async def audit(self, body: dict[str, Any] | bytes, timeout: float = 5) -> dict[str, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        reply = await self.nc.request("cio.nurse.audit", data, timeout=timeout)
        result: dict[str, Any] = json.loads(reply.data)
        return result


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    nc = await nats.connect(settings.NATS_URL)
    yield Bus(nc)
    await nc.close()


async def start_nurse(instance: str | None = None, **overrides: Any) -> NurseRunner:
    config = nurse_config_from_settings()
    config.instance = instance or f"test-{uuid.uuid4().hex[:6]}"
    for key, value in overrides.items():
        setattr(config, key, value)
    runner = NurseRunner(config)
    await runner.start()
    return runner


async def wait_for_version(runner: NurseRunner, version: int, timeout: float = 5) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        policy = runner.gate.policy
        if policy is not None and policy.version >= version:
            return time.monotonic() - start
        await asyncio.sleep(0.005)
    raise AssertionError(f"policy v{version} did not reach the gate in {timeout}s")


@pytest.fixture
async def nurse(redis_client: Any, transactional_db: None) -> AsyncIterator[NurseRunner]:
    """A running gate with the default policy published and exchange filters loaded."""
    await sync_to_async(exchange_info_store)(info=json.loads(DEFAULT_EXCHANGE_INFO.read_text()))
    state = await sync_to_async(services.trading_state_set)(
        scope=Scope.global_(), state="ACTIVE", actor="test", actor_kind=ActorKind.USER,
        reason="test setup")
    assert state.state == "ACTIVE"
    runner = await start_nurse()
    assert runner.ledger is not None
    await runner.ledger.replace_positions([])  # the engine reports: no open positions
    from governance.selectors import policy_version_current

    await wait_for_version(runner, await sync_to_async(policy_version_current)())
    yield runner
    await asyncio.wait_for(runner.stop(), timeout=30)
    await asyncio.wait_for(sync_to_async(connections.close_all)(), timeout=30)


PolicyFn = Callable[..., Any]


@pytest.fixture
def apply_policy(nurse: NurseRunner) -> PolicyFn:
    """Change policy through the real services and wait until the gate runs it."""

    async def apply(kind: str, scope: Scope, **kwargs: Any) -> int:
        if kind == "patch":
            from governance.selectors import config_head

            base, _ = await sync_to_async(config_head)(scope=scope)
            version = await sync_to_async(services.config_patch)(
                scope=scope, base_version=base, actor="test", actor_kind=ActorKind.USER,
                reason="test", **kwargs)
            policy_version = version.policy_version
        elif kind == "state":
            await sync_to_async(services.trading_state_set)(
                scope=scope, actor="test", actor_kind=ActorKind.USER, reason="test", **kwargs)
            from governance.selectors import policy_version_current

            policy_version = await sync_to_async(policy_version_current)()
        else:
            from governance.services import hard_gate_set

            await sync_to_async(hard_gate_set)(actor="root", reason="test", is_superuser=True,
                                               mfa_verified=True, **kwargs)
            from governance.selectors import policy_version_current

            policy_version = await sync_to_async(policy_version_current)()
        await wait_for_version(nurse, policy_version)
        return policy_version

    return apply
