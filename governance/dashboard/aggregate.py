"""Server-side aggregation for the dashboard: bounded rows, per-second gate health.

Pure and synchronous (no I/O), so the burst behaviour is testable in steps:

1. ``add`` is O(1) per decision: counters, one latency sample, reason codes, and the decision
   kept in one of two small "newest" rings (blocked, approved).
2. ``take_rows`` runs once per tick and returns at most what a token bucket of
   ``max_rows_per_s`` allows: newest blocked decisions first (they are what an operator
   looks for), then newest approved ones; everything else is counted as ``omitted``.
3. ``roll_seconds`` closes every finished wall-clock second into a point (decisions, block
   rate, latency p50/p99, reason-code hits) and keeps the last ``history_s`` of them.
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from governance.dashboard.events import decision_row

_LATENCY_SAMPLES = 20_000  # per second; a reservoir beyond that keeps percentiles honest


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0
    rank = max(1, min(len(sorted_values), math.ceil(q * len(sorted_values))))
    return sorted_values[rank - 1]


@dataclass(slots=True)
class _Second:
    """Counters of one wall-clock second."""

    approved: int = 0
    blocked: int = 0
    seen: int = 0
    latencies: list[int] = field(default_factory=list)
    rules: Counter[str] = field(default_factory=Counter)

    def point(self, t: int) -> dict[str, Any]:
        total = self.approved + self.blocked
        lat = sorted(self.latencies)
        return {
            "t": t,
            "decisions": total,
            "approved": self.approved,
            "blocked": self.blocked,
            "block_rate": round(self.blocked / total, 4) if total else 0.0,
            "p50_us": percentile(lat, 0.50),
            "p99_us": percentile(lat, 0.99),
            "rules": dict(self.rules),
        }


class Aggregator:
    """Turns an unbounded decision stream into bounded dashboard events."""

    def __init__(self, *, max_rows_per_s: int, tick_s: float, history_s: int = 60,
                 now: float = 0.0) -> None:
        self.rate = float(max_rows_per_s)
        # One tick may send what the bucket earned in it (at least one row).
        self.burst = max(1.0, max_rows_per_s * tick_s)
        self.tokens = self.burst
        self.last_refill = now
        self._blocked: deque[tuple[int, Mapping[str, Any]]] = deque(maxlen=int(self.burst))
        self._approved: deque[tuple[int, Mapping[str, Any]]] = deque(maxlen=int(self.burst))
        self._seq = 0
        self._pending = 0  # decisions since the last take_rows
        self._seconds: dict[int, _Second] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=history_s)
        self.history_s = history_s
        self.total = 0
        self.rows_sent = 0
        self.rows_omitted = 0
        self._rng = random.Random(0)  # noqa: S311  (sampling, not security)

    # -- 1. intake ---------------------------------------------------------------------------
    def add(self, decision: Mapping[str, Any], now: float) -> None:
        self._seq += 1
        self._pending += 1
        self.total += 1
        bucket = self._seconds.get(int(now))
        if bucket is None:
            bucket = self._seconds[int(now)] = _Second()
        blocked = decision.get("outcome") != "approved"
        if blocked:
            bucket.blocked += 1
            for reason in decision.get("reasons") or ():
                if isinstance(reason, Mapping):
                    bucket.rules[str(reason.get("code", "UNKNOWN"))] += 1
            self._blocked.append((self._seq, decision))
        else:
            bucket.approved += 1
            self._approved.append((self._seq, decision))
        latency = decision.get("latency_us")
        if isinstance(latency, int | float):
            bucket.seen += 1
            if len(bucket.latencies) < _LATENCY_SAMPLES:
                bucket.latencies.append(int(latency))
            else:
                slot = self._rng.randrange(bucket.seen)
                if slot < _LATENCY_SAMPLES:
                    bucket.latencies[slot] = int(latency)

    # -- 2. rows -----------------------------------------------------------------------------
    def take_rows(self, now: float) -> tuple[list[dict[str, Any]], int]:
        """The rows to show this tick (oldest first) and how many were left out."""
        self.tokens = min(self.burst, self.tokens + (now - self.last_refill) * self.rate)
        self.last_refill = now
        budget = int(self.tokens)
        chosen: list[tuple[int, Mapping[str, Any]]] = []
        if budget > 0:
            chosen = list(self._blocked)[-budget:]
            room = budget - len(chosen)
            if room > 0:
                chosen.extend(list(self._approved)[-room:])
        chosen.sort(key=lambda item: item[0])
        omitted = self._pending - len(chosen)
        self._blocked.clear()
        self._approved.clear()
        self._pending = 0
        self.tokens -= len(chosen)
        self.rows_sent += len(chosen)
        self.rows_omitted += omitted
        return [decision_row(d) for _, d in chosen], omitted

    # -- 3. gate health ------------------------------------------------------------------------
    def roll_seconds(self, now: float) -> list[dict[str, Any]]:
        """Points for every finished second (empty seconds included, at most ``history_s``)."""
        current = int(now)
        if not self._seconds and not self.history:
            return []
        last = self.history[-1]["t"] if self.history else min(self._seconds) - 1
        start = max(last + 1, current - self.history_s)
        points = []
        for t in range(start, current):
            bucket = self._seconds.pop(t, None)
            points.append((bucket or _Second()).point(t))
        for t in [t for t in self._seconds if t < start]:
            del self._seconds[t]  # older than the window: never shown
        self.history.extend(points)
        return points

    def rules_window(self) -> dict[str, int]:
        """Reason-code hits over the kept history (the "per-rule hit counts" panel)."""
        total: Counter[str] = Counter()
        for point in self.history:
            total.update(point["rules"])
        return dict(total.most_common(20))
