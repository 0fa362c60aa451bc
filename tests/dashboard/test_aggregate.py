"""Server-side aggregation: bounded rows under bursts, gate-health points, the row shape."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from governance.dashboard.aggregate import Aggregator, percentile
from governance.dashboard.events import decision_row
from governance.dashboard.selectors import fleet_state_from_snapshot, instances_view


def decision(i: int, outcome: str = "approved", latency: int = 100,
             codes: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"decision_id": f"d{i}", "signal_id": f"s{i}", "strategy_id": "s", "symbol": "BTCUSDT",
            "action": "buy", "quantity": 0.01, "notional": 500.0, "outcome": outcome,
            "reasons": [{"code": c, "detail": "x=1"} for c in codes], "latency_us": latency,
            "policy_version": 3, "decided_at": "2026-01-01T00:00:00Z"}


def test_a_10k_burst_is_cut_to_the_row_budget() -> None:
    agg = Aggregator(max_rows_per_s=40, tick_s=0.25, now=1000.0)
    sent = omitted = 0
    for tick in range(8):  # two seconds, 10,000 decisions per second
        now = 1000.0 + tick * 0.25
        for i in range(2500):
            agg.add(decision(tick * 2500 + i, latency=i), now)
        rows, left_out = agg.take_rows(now + 0.25)
        assert len(rows) <= 10
        sent += len(rows)
        omitted += left_out
    assert sent <= 2 * 40 + 10  # rate x seconds + one tick of burst
    assert sent + omitted == 20_000
    assert agg.total == 20_000


def test_blocked_rows_are_shown_before_approved_ones() -> None:
    agg = Aggregator(max_rows_per_s=8, tick_s=0.5, now=0.0)  # 4 rows per tick
    for i in range(100):
        agg.add(decision(i, "blocked" if i in (3, 50) else "approved", codes=("STATE_HALTED",)
                         if i in (3, 50) else ()), 0.1)
    rows, omitted = agg.take_rows(0.5)
    ids = [r["decision_id"] for r in rows]
    assert {"d3", "d50"} <= set(ids)
    assert ids == sorted(ids, key=lambda d: int(d[1:]))  # oldest first
    assert omitted == 100 - len(rows)
    assert ids[-1] == "d99"  # then the newest approved ones


def test_seconds_roll_into_points_with_percentiles_and_rule_hits() -> None:
    agg = Aggregator(max_rows_per_s=40, tick_s=0.25, now=10.0)
    for i in range(100):
        agg.add(decision(i, "blocked" if i % 4 == 0 else "approved", latency=i + 1,
                         codes=("EXPOSURE_SYMBOL_LIMIT",) if i % 4 == 0 else ()), 10.5)
    agg.add(decision(200), 12.2)
    points = agg.roll_seconds(13.0)
    assert [p["t"] for p in points] == [10, 11, 12]  # the empty second 11 is a zero point
    first = points[0]
    assert first["decisions"] == 100 and first["blocked"] == 25 and first["block_rate"] == 0.25
    assert first["p50_us"] == 50 and first["p99_us"] == 99
    assert first["rules"] == {"EXPOSURE_SYMBOL_LIMIT": 25}
    assert points[1]["decisions"] == 0
    assert agg.rules_window() == {"EXPOSURE_SYMBOL_LIMIT": 25}
    assert agg.roll_seconds(13.5) == []  # nothing new finished


def test_percentile_nearest_rank() -> None:
    assert percentile([], 0.5) == 0
    assert percentile([7], 0.99) == 7
    assert percentile(list(range(1, 101)), 0.99) == 99


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), st.booleans(), st.integers(0, 10_000)),
                max_size=400),
       st.integers(1, 100), st.sampled_from([0.05, 0.1, 0.25, 1.0]))
def test_rows_never_exceed_the_token_bucket(events: list[tuple[float, bool, int]],
                                            rate: int, tick: float) -> None:
    agg = Aggregator(max_rows_per_s=rate, tick_s=tick, now=0.0)
    events = sorted(events)
    sent = 0
    now = 0.0
    i = 0
    while now <= 5.0 + tick:
        while i < len(events) and events[i][0] <= now:
            t, blocked, latency = events[i]
            agg.add(decision(i, "blocked" if blocked else "approved", latency), t)
            i += 1
        rows, _ = agg.take_rows(now)
        assert len(rows) <= max(1.0, rate * tick)
        sent += len(rows)
        now += tick
    assert sent <= rate * now + max(1.0, rate * tick)
    assert agg.rows_sent + agg.rows_omitted == agg.total == len(events)


def test_rows_carry_signal_id_or_fall_back_to_decision_id() -> None:
    row = decision_row({"decision_id": "abc", "outcome": "blocked",
                        "reasons": [{"code": "STATE_HALTED", "detail": "scope=global"}]})
    assert row["signal_id"] == "abc" and row["outcome"] == "blocked"
    assert row["reasons"] == [{"code": "STATE_HALTED", "detail": "scope=global"}]
    assert decision_row(decision(1))["signal_id"] == "s1"


def test_fleet_state_from_the_policy_snapshot_skips_expired_rows() -> None:
    snapshot = {"policy_version": 9, "states": {
        "global": {"state": "REDUCING", "reason": "ladder", "set_by": "x", "expires_at": None},
        "strategy:a": {"state": "HALTED", "reason": "r", "set_by": "y", "expires_at": 50.0},
        "symbol:BTCUSDT": {"state": "HALTED", "reason": "r", "set_by": "y", "expires_at": 500.0},
    }}
    view = fleet_state_from_snapshot(snapshot, now=100.0)
    assert view["state"] == "REDUCING" and view["policy_version"] == 9
    assert [s["scope"] for s in view["scopes"]] == ["symbol:BTCUSDT", "global"]


def test_instances_are_marked_stale_when_silent() -> None:
    raw = {b"a": b'{"instance": "a", "status": "GOVERNANCE_ACTIVE", "timestamp": 95, '
                 b'"policy_version": 4}',
           b"b": b'{"instance": "b", "status": "GOVERNANCE_ACTIVE", "timestamp": 10}',
           b"c": b"not json"}
    rows = instances_view(raw, now=100.0, stale_s=30)
    assert [(r["instance"], r["status"], r["policy_version"]) for r in rows] == [
        ("a", "GOVERNANCE_ACTIVE", 4), ("b", "STALE", 0)]
    assert rows[0]["age_s"] == 5.0
