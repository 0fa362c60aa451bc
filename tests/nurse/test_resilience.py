"""Chaos: Redis loss, NATS restarts, two instances, a killed instance, a stopped sink."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import nats
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from governance import policy as gov_policy
from nurse.models import DecisionRecord
from nurse.runner import NurseRunner
from nurse.sink import AuditSink
from tests.nurse.conftest import Bus, make_intent, start_nurse, unique_strategy
from tests.support.servers import nats_server, redis_server

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


async def _collect(queue: asyncio.Queue[Any], count: int, timeout: float) -> list[Any]:
    items: list[Any] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(items) < count:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        try:
            items.append(await asyncio.wait_for(queue.get(), timeout=remaining))
        except TimeoutError:
            break
    return items


ROOMY = {"max_orders_per_minute": 10000, "max_daily_trades": 10000,
         "max_strategy_exposure_usd": 90000.0, "max_symbol_exposure_usd": 90000.0,
         "max_fleet_exposure_usd": 90000.0}


async def test_two_instances_decide_each_intent_exactly_once(
        nurse: NurseRunner, bus: Bus, apply_policy: Any) -> None:
    from governance.scopes import Scope

    sid = unique_strategy()
    await apply_policy("patch", Scope.strategy(sid), patch=ROOMY)
    second = await start_nurse()
    assert second.ledger is not None
    # Exactly-once is the point here, not latency: a loaded test machine must not turn
    # part of the burst into GATE_TIMEOUT blocks.
    nurse.gate.budget_s = second.gate.budget_s = 5.0
    try:
        await asyncio.sleep(0.1)
        signals = await bus.watch(f"signals.trading.{sid}")
        blocked = await bus.watch(f"cio.nurse.blocked.{sid}")
        ids = [uuid.uuid4().hex for _ in range(200)]
        for i, signal_id in enumerate(ids):
            await bus.nc.publish(f"cio.intent.trading.{sid}", json.dumps(make_intent(
                strategy_id=sid, signal_id=signal_id, quantity=0.001 * (i % 7 + 1),
                price=50000.0 + i, current_price=50000.0 + i)).encode())
        await bus.nc.flush()
        got = await _collect(signals, 200, timeout=10)
        await asyncio.sleep(0.3)
        while not signals.empty():
            got.append(signals.get_nowait())
        seen = [json.loads(m.data)["signal_id"] for m in got]
        reasons = [json.loads(m.data)["reasons"] for m in await _collect(blocked, 200, 0.1)]
        assert reasons == [], (nurse.batch_stats, second.batch_stats)
        assert sorted(seen) == sorted(ids)  # every intent once, none twice
        decided = nurse.counters["approved"] + second.counters["approved"]
        assert decided >= 200
        assert nurse.counters["approved"] > 0 and second.counters["approved"] > 0
    finally:
        await second.stop()


async def _seed_redis() -> None:
    """Exchange filters and the current policy into settings.REDIS_URL."""
    from nurse.services import DEFAULT_EXCHANGE_INFO, exchange_info_store

    await sync_to_async(exchange_info_store)(info=json.loads(DEFAULT_EXCHANGE_INFO.read_text()))
    await sync_to_async(gov_policy.policy_publish)()


async def _gate_on_redis(redis_url: str) -> NurseRunner:
    """A gate on its own Redis (settings.REDIS_URL points there): exchange filters and the
    policy published into it, no open positions."""
    await _seed_redis()
    runner = await start_nurse(redis_url=redis_url)
    assert runner.ledger is not None
    await runner.ledger.replace_positions([])
    return runner


async def test_redis_loss_keeps_deciding_on_last_snapshot_and_recovers(
        transactional_db: None, bus: Bus, settings: Any) -> None:
    server = redis_server().start()
    settings.REDIS_URL = f"redis://127.0.0.1:{server.port}/0"
    try:
        runner = await _gate_on_redis(settings.REDIS_URL)
        assert runner.ledger is not None
        sid = unique_strategy()
        assert (await bus.audit(make_intent(strategy_id=sid)))["data"]["outcome"] == "approved"
        version = runner.gate.policy.version  # type: ignore[union-attr]
        server.kill()
        blocked = await bus.audit(make_intent(strategy_id=sid, quantity=0.02))
        assert [r["code"] for r in blocked["data"]["reasons"]] == ["EXPOSURE_STATE_UNAVAILABLE"]
        close = await bus.audit(make_intent(strategy_id=sid, action="close", quantity=0.02))
        assert close["data"]["outcome"] == "approved"  # reduction is never blocked
        assert close["data"]["policy_version"] == version  # last known good snapshot
        beat = json.loads((await bus.nc.request("cio.heartbeat", b"", timeout=2)).data)
        deadline = time.monotonic() + 5
        while beat["instance"] != runner.cfg.instance or beat["status"] != "DEGRADED":
            assert time.monotonic() < deadline, beat
            await asyncio.sleep(0.2)
            beat = runner.heartbeat()
        server.start()  # same port, empty: the reconcile path must refill it
        await _seed_redis()
        await runner.ledger.replace_positions([])
        deadline = time.monotonic() + 10
        while True:
            reply = await bus.audit(make_intent(strategy_id=sid, quantity=0.013))
            if reply["data"]["outcome"] == "approved":
                break
            assert time.monotonic() < deadline, reply
            await asyncio.sleep(0.3)
        await runner.stop()
    finally:
        server.stop()
        await sync_to_async(connections.close_all)()


async def test_nats_restart_never_duplicates_a_decision_or_signal(
        nurse: NurseRunner, tmp_path: Path, apply_policy: Any) -> None:
    from governance.scopes import Scope

    sid = unique_strategy()
    await apply_policy("patch", Scope.strategy(sid), patch=ROOMY)
    server = nats_server(tmp_path / "js").start()
    url = f"nats://127.0.0.1:{server.port}"
    runner = await start_nurse(nats_url=url)
    assert runner.ledger is not None
    nc = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    got: list[dict[str, Any]] = []

    async def on_signal(msg: Any) -> None:
        got.append(json.loads(msg.data))

    await nc.subscribe(f"signals.trading.{sid}", cb=on_signal)
    sent: list[str] = []
    try:
        for phase in range(2):
            for i in range(50):
                signal_id = uuid.uuid4().hex
                sent.append(signal_id)
                intent = make_intent(strategy_id=sid, signal_id=signal_id,
                                     quantity=0.001 * (1 + i % 9), price=40000.0 + phase * 100 + i,
                                     current_price=40000.0 + phase * 100 + i,
                                     stop_loss=39000.0, take_profit=42000.0)
                # The same intent twice, as a strategy retrying across a reconnect would.
                for _ in range(2):
                    await nc.publish(f"cio.intent.trading.{sid}", json.dumps(intent).encode())
            await nc.flush()
            await asyncio.sleep(1.0)
            if phase == 0:
                server.kill()
                await asyncio.sleep(0.5)
                server.start()
                await asyncio.sleep(2.0)  # both clients reconnect
        await asyncio.sleep(1.0)
        by_signal = [s["signal_id"] for s in got]
        assert len(by_signal) == len(set(by_signal))  # never published twice
        assert len({s["decision_id"] for s in got}) == len(got)
        assert set(by_signal) <= set(sent)
        assert len(by_signal) >= 50  # the phase after the restart is decided again
    finally:
        await nc.close()
        await runner.stop()
        server.stop()


async def test_sink_stopped_mid_stream_catches_up_idempotently(
        nurse: NurseRunner, bus: Bus, apply_policy: Any) -> None:
    from governance.scopes import Scope

    sid = unique_strategy()
    await apply_policy("patch", Scope.strategy(sid), patch=ROOMY)
    durable = f"sink-{uuid.uuid4().hex[:8]}"
    ids = []
    first = AuditSink(nats_url=settings.NATS_URL, stream=settings.NURSE_DECISION_STREAM,
                      subject_prefix=settings.NURSE_DECISION_SUBJECT_PREFIX, durable=durable)
    task = asyncio.create_task(first.run())
    for i in range(20):
        reply = await bus.audit(make_intent(strategy_id=sid, quantity=0.001 * (1 + i % 15),
                                            price=50000.0 + i,
                                            current_price=50000.0 + i,
                                            confidence=0.9 if i % 2 else 0.2))
        ids.append(reply["data"]["decision_id"])
    await asyncio.sleep(1.5)
    first.request_stop()
    await asyncio.wait_for(task, timeout=10)
    for i in range(20, 40):  # the sink is down: decisions wait in JetStream
        reply = await bus.audit(make_intent(strategy_id=sid, quantity=0.001 * (1 + i % 15),
                                            price=50000.0 + i, current_price=50000.0 + i))
        ids.append(reply["data"]["decision_id"])
    stored = await sync_to_async(DecisionRecord.objects.filter(strategy_id=sid).count)()
    assert stored < 40
    # Poison in the stream (not JSON; JSON that is no decision) must not hold the rest back.
    js = bus.nc.jetstream()
    prefix = settings.NURSE_DECISION_SUBJECT_PREFIX
    await js.publish(f"{prefix}.blocked.{sid}", b"\xff not json")
    await js.publish(f"{prefix}.blocked.{sid}", json.dumps({"decision_id": "x"}).encode())
    second = AuditSink(nats_url=settings.NATS_URL, stream=settings.NURSE_DECISION_STREAM,
                       subject_prefix=settings.NURSE_DECISION_SUBJECT_PREFIX, durable=durable)
    task = asyncio.create_task(second.run())
    # A new durable reads the whole stream: everything earlier tests decided comes first.
    deadline = time.monotonic() + 90
    while await sync_to_async(DecisionRecord.objects.filter(strategy_id=sid).count)() < 40:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    second.request_stop()
    await asyncio.wait_for(task, timeout=10)
    assert second.rejected >= 2
    rows = await sync_to_async(list)(DecisionRecord.objects.filter(strategy_id=sid))
    assert len(rows) == len(ids) and set(ids) - {r.decision_id for r in rows} == set(), (
        len(rows), len(ids), len(set(ids)))
    blocked = [r for r in rows if r.outcome == "blocked"]
    assert blocked and all(r.reason_codes == ["CONFIG_CONFIDENCE_LOW"] for r in blocked), [
        (r.reason_codes, r.payload.get("quantity")) for r in blocked]
    # Replaying the stream from the start stores nothing twice.
    from nurse.services import decision_records_store

    again = [{"decision_id": r.decision_id, "outcome": r.outcome, "strategy_id": sid,
              "received_at": r.received_at.isoformat(), "decided_at": r.decided_at.isoformat()}
             for r in rows]
    assert await sync_to_async(decision_records_store)(decisions=again) == 0
    await sync_to_async(connections.close_all)()


@pytest.mark.slow
async def test_kill_9_under_load_leaves_no_phantom_trade(nurse: NurseRunner, bus: Bus,
                                                         apply_policy: Any,
                                                         redis_client: Any) -> None:
    """Two gate processes; one is SIGKILLed mid-load. Every signal has a durable decision."""
    from governance.scopes import Scope

    sid = unique_strategy()
    await apply_policy("patch", Scope.strategy(sid), patch=ROOMY)
    env = {**os.environ, "NURSE_BUDGET_MS": "5000",
           "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE",
                                                    "cio_site.settings")}
    procs = [subprocess.Popen([sys.executable, "manage.py", "run_nurse", "--instance",
                               f"kill-{i}"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(2)]
    signals = await bus.watch(f"signals.trading.{sid}")
    blocked = await bus.watch(f"cio.nurse.blocked.{sid}")
    try:
        key = f"{settings.CIO_NAMESPACE}:nurse:instances"
        deadline = time.monotonic() + 30
        while not {b"kill-0", b"kill-1"} <= set(redis_client.hkeys(key)):
            assert time.monotonic() < deadline, "gate processes did not start"
            await asyncio.sleep(0.2)
        await nurse.stop()  # only the two subprocesses decide from here on
        total = 1500
        for i in range(total):
            await bus.nc.publish(f"cio.intent.trading.{sid}", json.dumps(make_intent(
                strategy_id=sid, quantity=0.001 * (1 + i % 2), price=30000.0 + i,
                current_price=30000.0 + i, stop_loss=29000.0, take_profit=33000.0)).encode())
            if i == total // 2:
                procs[0].send_signal(signal.SIGKILL)
            if i % 50 == 0:
                await asyncio.sleep(0.05)
        await bus.nc.flush()
        await asyncio.sleep(2.0)
        got = []
        while not signals.empty():
            got.append(json.loads(signals.get_nowait().data))
        reasons = [json.loads(m.data)["reasons"] for m in await _collect(blocked, total, 0.1)]
        assert reasons[:3] == []
        assert len(got) > total // 2  # the survivor took over
        js = bus.nc.jetstream()
        sub = await js.pull_subscribe(f"{settings.NURSE_DECISION_SUBJECT_PREFIX}.>",
                                      stream=settings.NURSE_DECISION_STREAM)
        durable_ids: set[str] = set()
        while True:
            try:
                msgs = await sub.fetch(1000, timeout=1)
            except (nats.errors.TimeoutError, TimeoutError):
                break
            for m in msgs:
                # Other tests leave poison in the shared stream on purpose.
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    durable_ids.add(json.loads(m.data)["decision_id"])
                await m.ack()
        phantoms = [s["decision_id"] for s in got if s["decision_id"] not in durable_ids]
        assert phantoms == []
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)


async def test_decision_not_stored_means_no_signal_except_for_reductions(
        nurse: NurseRunner, bus: Bus) -> None:
    """JetStream refuses the decision (its stream is gone): the entry is blocked with
    AUDIT_UNAVAILABLE and never reaches the engine; a position reduction still goes out."""
    stream = f"{settings.NURSE_DECISION_STREAM}_GONE"
    runner = await start_nurse(decision_stream=stream, ack_timeout_s=1.0,
                               decision_prefix=f"{settings.NURSE_DECISION_SUBJECT_PREFIX}gone",
                               queue_group=f"{settings.NURSE_QUEUE_GROUP}-gone",
                               intent_subjects=["gone.intent.>"])
    try:
        await nurse.stop()  # only the gate without a stream decides from here on
        await runner.js.delete_stream(stream)
        sid = unique_strategy()
        signals = await bus.watch(f"signals.trading.{sid}")
        await bus.publish(f"gone.intent.{sid}", make_intent(strategy_id=sid))
        blocked = await bus.watch(f"cio.nurse.blocked.{sid}")
        await bus.publish(f"gone.intent.{sid}", make_intent(strategy_id=sid, quantity=0.002))
        event = json.loads((await asyncio.wait_for(blocked.get(), timeout=5)).data)
        assert [r["code"] for r in event["reasons"]] == ["AUDIT_UNAVAILABLE"]
        await bus.publish(f"gone.intent.{sid}", make_intent(strategy_id=sid, action="close"))
        signal_msg = await asyncio.wait_for(signals.get(), timeout=5)
        assert json.loads(signal_msg.data)["action"] == "close"
        await asyncio.sleep(0.5)
        assert signals.empty()  # neither entry was published
        assert runner.counters["blocked"] >= 2
    finally:
        await runner.stop()


async def test_over_budget_entries_are_shed_and_reductions_still_pass(
        nurse: NurseRunner, bus: Bus) -> None:
    """GATE_TIMEOUT: an entry past the budget is blocked before any work (request-reply
    answers RETRY_SAFE); a position reduction past the budget is still decided and sent."""
    await nurse.stop()
    runner = await start_nurse(budget_ms=0.001)  # every intent is late when its batch runs
    try:
        assert runner.ledger is not None
        await runner.ledger.replace_positions([])
        sid = unique_strategy()
        signals = await bus.watch(f"signals.trading.{sid}")
        blocked = await bus.watch(f"cio.nurse.blocked.{sid}")
        reply = await bus.audit(make_intent(strategy_id=sid))
        assert reply["success"] is False and reply["error"]["code"] == "RETRY_SAFE"
        event = json.loads((await asyncio.wait_for(blocked.get(), timeout=5)).data)
        assert [r["code"] for r in event["reasons"]] == ["GATE_TIMEOUT"]
        assert (event["strategy_id"], event["symbol"]) == (sid, "BTCUSDT")
        assert event["intent"]["strategy_id"] == sid  # the payload is kept for the audit
        for n, reducing in enumerate(({"action": "close"}, {"side": "EXIT"})):
            intent = make_intent(strategy_id=sid, quantity=0.002 + 0.001 * n, **reducing)
            if "side" in reducing:
                intent.pop("action")
            reply = await bus.audit(intent)
            assert reply["data"]["outcome"] == "approved", reply
            assert json.loads((await asyncio.wait_for(signals.get(), 5)).data)["action"] \
                == "close"
        assert runner.counters["timeouts"] >= 1
    finally:
        await runner.stop()


async def test_full_intake_queue_blocks_entries_with_overload_not_reductions(
        nurse: NurseRunner, bus: Bus) -> None:
    await nurse.stop()
    runner = await start_nurse(max_queue=0)  # the queue always counts as full
    try:
        assert runner.ledger is not None
        await runner.ledger.replace_positions([])
        sid = unique_strategy()
        signals = await bus.watch(f"signals.trading.{sid}")
        blocked = await bus.watch(f"cio.nurse.blocked.{sid}")
        reply = await bus.audit(make_intent(strategy_id=sid))  # request-reply: retry later
        assert reply["error"]["code"] == "RETRY_SAFE"
        await bus.publish(f"cio.intent.trading.{sid}", make_intent(strategy_id=sid))
        event = json.loads((await asyncio.wait_for(blocked.get(), timeout=5)).data)
        assert [r["code"] for r in event["reasons"]] == ["GATE_OVERLOAD"]
        await bus.publish(f"cio.intent.trading.{sid}",
                          make_intent(strategy_id=sid, action="close", quantity=0.003))
        signal_msg = await asyncio.wait_for(signals.get(), timeout=5)
        assert json.loads(signal_msg.data)["action"] == "close"
        assert signals.empty() and runner.counters["overload"] >= 2
    finally:
        await runner.stop()


async def test_a_late_ledger_answer_is_undone(transactional_db: None, bus: Bus,
                                               settings: Any) -> None:
    """Redis freezes past the ledger timeout: the entry is blocked without it; when Redis
    wakes up and runs the script anyway, the gate releases that reservation, so the same
    intent sent again is approved (no phantom exposure, no false duplicate)."""
    server = redis_server().start()
    settings.REDIS_URL = f"redis://127.0.0.1:{server.port}/0"
    try:
        runner = await _gate_on_redis(settings.REDIS_URL)
        assert runner.ledger is not None and server.proc is not None
        sid = unique_strategy()
        intent = make_intent(strategy_id=sid)
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            reply = await bus.audit(intent)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        assert [r["code"] for r in reply["data"]["reasons"]] == ["EXPOSURE_STATE_UNAVAILABLE"]
        deadline = time.monotonic() + 5
        while (await runner.ledger.exposures()).get("fleet", 0.0) != 0.0:
            assert time.monotonic() < deadline, await runner.ledger.exposures()
            await asyncio.sleep(0.05)
        runner.gate.local_dedup = type(runner.gate.local_dedup)(60)  # only Redis remembers
        again = await bus.audit(intent)
        assert again["data"]["outcome"] == "approved", again
        await runner.stop()
    finally:
        server.stop()
        await sync_to_async(connections.close_all)()


async def test_a_failure_while_deciding_still_leaves_a_durable_blocked_decision(
        nurse: NurseRunner, bus: Bus) -> None:
    """Fault injection: the gate's own code raises. The intents of that batch are blocked
    with GATE_ERROR (request-reply: RETRY_SAFE), recorded, and never reach the engine."""
    sid = unique_strategy()
    real_prepare = nurse.gate.prepare

    def broken(raw: bytes, **kwargs: Any) -> Any:
        if sid.encode() in raw:
            raise RuntimeError("injected fault")
        return real_prepare(raw, **kwargs)

    nurse.gate.prepare = broken  # type: ignore[method-assign]
    signals = await bus.watch(f"signals.trading.{sid}")
    blocked = await bus.watch(f"cio.nurse.blocked.{sid}")
    reply = await bus.audit(make_intent(strategy_id=sid))
    assert reply["error"]["code"] == "RETRY_SAFE"
    await bus.publish(f"cio.intent.trading.{sid}",
                      make_intent(strategy_id=sid, action="close", quantity=0.004))
    events = [json.loads(m.data) for m in await _collect(blocked, 2, 5)]
    assert [[r["code"] for r in e["reasons"]] for e in events] == [["GATE_ERROR"]] * 2
    assert {e["action"] for e in events} == {"buy", "close"}
    nurse.gate.prepare = real_prepare  # type: ignore[method-assign]
    ok = await bus.audit(make_intent(strategy_id=sid, quantity=0.005))
    assert ok["data"]["outcome"] == "approved"  # the gate goes on deciding
    await asyncio.sleep(0.3)
    assert signals.qsize() == 1
