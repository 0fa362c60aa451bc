"""Burst responsiveness of the dashboard: N intents/s through the real pipeline into Chromium.

Used by ``test_burst.py`` (short burst, asserted bounds) and, with
``DASHBOARD_BURST_WRITE=1``, to write the measured figures into ``docs/benchmarks.md``
between ``<!-- dashboard:start -->`` and ``<!-- dashboard:end -->``.

Pipeline, every part a real process on loopback: this process publishes intents on NATS ->
``run_nurse`` (subprocess) decides them -> decisions on the JetStream subjects ->
``run_dashboard_bridge`` (subprocess, default tick and row budget) -> Redis channel layer ->
daphne (subprocess) websocket -> the dashboard page in headless Chromium. While the burst
runs we sample the page's own probe (``window.__dashboard``: events, rows, main-thread lag),
time a click on the halt control until its dialog opens, and time a polling request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "benchmarks.md"
_CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK


def intent_bodies(count: int, strategy: str) -> list[bytes]:
    """Valid, distinct BTCUSDT entries (fresh timestamps, unique ids and contents)."""
    now = datetime.now(UTC).isoformat()
    out = []
    for i in range(count):
        price = round(50_000.0 + (i % 500) * 0.1, 1)
        out.append(json.dumps({
            "strategy_id": strategy, "symbol": "BTCUSDT", "action": "buy" if i % 2 else "sell",
            "confidence": 0.8, "price": price, "current_price": price,
            "quantity": round(0.001 * (1 + i % 9), 3),
            "stop_loss": round(price * (0.98 if i % 2 else 1.02), 1),
            "take_profit": round(price * (1.04 if i % 2 else 0.96), 1),
            "source": "burst", "strategy": "burst", "timestamp": now,
            "signal_id": uuid.uuid4().hex}).encode())
    return out


@dataclass
class BurstResult:
    """What one burst measured."""

    rate: int
    seconds: float
    published: int = 0
    publish_s: float = 0.0
    decided: int = 0
    peak_decisions_per_s: int = 0
    ws_events: int = 0
    ws_events_per_s_max: float = 0.0
    rows: int = 0
    rows_per_s_max: float = 0.0
    omitted: int = 0
    lag_max_ms: float = 0.0
    max_gap_ms: float = 0.0
    drain_s: float = 0.0
    elapsed_s: float = 0.0
    bridge_tick_late_ms: float = 0.0
    click_ms: list[float] = field(default_factory=list)
    poll_ms: list[float] = field(default_factory=list)
    stats_visible_s: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)
    max_rows_per_s: int = 0
    tick_s: float = 0.0


async def _probe(page: Any) -> dict[str, Any]:
    data: dict[str, Any] = await page.evaluate(
        "() => ({...window.__dashboard, omitted: Number(document.getElementById('omitted')"
        ".textContent), dps: document.getElementById('stat-dps').textContent})")
    return data


async def _click_latency(page: Any) -> float:
    started = time.perf_counter()
    await page.click('button[data-action="halt"]')
    await page.wait_for_selector("#control-dialog[open]", timeout=10_000)
    elapsed = (time.perf_counter() - started) * 1000
    await page.click("#control-dialog [data-cancel]")
    await page.wait_for_selector("#control-dialog:not([open])", state="attached")
    return elapsed


async def _poll_latency(page: Any) -> float:
    ms: float = await page.evaluate(
        "async () => { const t = performance.now(); await (await fetch('/dashboard/live/'))"
        ".json(); return performance.now() - t; }")
    return ms


async def run_burst(*, page: Any, nc: Any, subject: str, rate: int, seconds: float,
                    pids: dict[str, int], max_rows_per_s: int, tick_s: float,
                    snapshot: Any) -> BurstResult:
    """Publish ``rate`` intents/s for ``seconds`` and measure the page meanwhile.

    ``snapshot`` returns the bridge's live snapshot (series of per-second gate health)."""
    result = BurstResult(rate=rate, seconds=seconds, max_rows_per_s=max_rows_per_s,
                         tick_s=tick_s)
    bodies = intent_bodies(int(rate * seconds), f"burst-{uuid.uuid4().hex[:6]}")
    await page.evaluate("() => { window.__dashboard.lagMaxMs = 0; "
                        "window.__dashboard.maxGapMs = 0; }")
    before = await _probe(page)
    count_before = ((snapshot() or {}).get("counters") or {}).get("decisions", 0)
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started_wall = time.time()

    async def publish() -> None:
        step = 0.01
        per_step = max(1, int(rate * step))
        t0 = time.monotonic()
        for n, i in enumerate(range(0, len(bodies), per_step)):
            for body in bodies[i:i + per_step]:
                await nc.publish(subject, body)
            result.published += len(bodies[i:i + per_step])
            delay = t0 + (n + 1) * step - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif n % 20 == 0:
                await asyncio.sleep(0)
        await nc.flush()
        result.publish_s = time.monotonic() - t0

    publisher = asyncio.create_task(publish())
    t_start = time.monotonic()
    samples = [(t_start, before)]
    while not publisher.done():
        await asyncio.sleep(0.5)
        probe = await _probe(page)
        samples.append((time.monotonic(), probe))
        if result.stats_visible_s is None and re.fullmatch(r"\d+", probe["dps"] or "") and \
                int(probe["dps"]) >= rate // 5:
            result.stats_visible_s = round(time.monotonic() - t_start, 2)
        if len(result.click_ms) < 3 and time.monotonic() - t_start > 0.8 * (len(result.click_ms)
                                                                           + 1):
            result.click_ms.append(round(await _click_latency(page), 1))
            result.poll_ms.append(round(await _poll_latency(page), 1))
    await publisher
    during = await _probe(page)  # the longest silence while the burst ran
    result.max_gap_ms = round(during["maxGapMs"], 1)
    # The gate may still work through a backlog: wait until the bridge's count stands still.
    first_count = ((snapshot() or {}).get("counters") or {}).get("decisions", 0)
    counted, still_since, drained_at = first_count, time.monotonic(), time.monotonic()
    while time.monotonic() - still_since < 2.0 and time.monotonic() - drained_at < 30:
        await asyncio.sleep(0.25)
        now_count = ((snapshot() or {}).get("counters") or {}).get("decisions", 0)
        if now_count != counted:
            counted, still_since = now_count, time.monotonic()
    result.drain_s = round(max(0.0, still_since - drained_at), 2)
    await asyncio.sleep(1.5)  # the last second rolls into the stats
    after = await _probe(page)
    samples.append((time.monotonic(), after))
    result.elapsed_s = round(time.monotonic() - t_start, 2)
    result.cpu = {name: round((cpu_seconds(pid) - cpu_before[name]) /
                              (time.time() - started_wall), 3) for name, pid in pids.items()}
    result.ws_events = after["events"] - before["events"]
    result.rows = after["rows"] - before["rows"]
    result.omitted = after["omitted"] - before["omitted"]
    result.lag_max_ms = round(after["lagMaxMs"], 1)
    # Rates over whole seconds of wall time (sampling windows vary with the click probes).
    for i, (t0, first) in enumerate(samples):
        later = [(t, p) for t, p in samples[i + 1:] if t - t0 >= 1.0]
        if later:
            t1, last = later[0]
            span = t1 - t0
            result.ws_events_per_s_max = max(result.ws_events_per_s_max,
                                             (last["events"] - first["events"]) / span)
            result.rows_per_s_max = max(result.rows_per_s_max,
                                        (last["rows"] - first["rows"]) / span)
    final = snapshot() or {}
    series = [p for p in final.get("series", []) if p["t"] >= int(started_wall)]
    counters = final.get("counters") or {}
    result.decided = int(counters.get("decisions", 0) - count_before)
    result.bridge_tick_late_ms = float(counters.get("tick_late_max_ms", 0.0))
    result.peak_decisions_per_s = max((p["decisions"] for p in series), default=0)
    return result


def markdown(r: BurstResult) -> str:
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    cpu_model = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        cpu_model = next(line.split(":", 1)[1].strip() for line in
                         Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name"))
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) \
        if Path("/proc/loadavg").exists() else "unknown"
    offered = r.rate * r.seconds
    clicks = ", ".join(f"{c:.0f}" for c in r.click_ms) or "n/a"
    polls = ", ".join(f"{p:.0f}" for p in r.poll_ms) or "n/a"
    cpu = ", ".join(f"{name} {share * 100:.0f}%" for name, share in r.cpu.items())
    visible = f"{r.stats_visible_s} s" if r.stats_visible_s is not None else "n/a"
    rows = [
        ("offered", f"{r.rate:,} intents/s for {r.seconds:g} s ({offered:,.0f} intents; "
                    f"published in {r.publish_s:.2f} s)"),
        ("decided by the gate (counted by the bridge)",
         f"{r.decided:,}; peak {r.peak_decisions_per_s:,} decisions/s; backlog worked off "
         f"{r.drain_s:g} s after the last publish"),
        ("bridge tick lateness (max over its lifetime)", f"{r.bridge_tick_late_ms:.0f} ms"),
        ("websocket messages to the browser",
         f"{r.ws_events} in total, at most {r.ws_events_per_s_max:.0f}/s (any 1 s window); "
         f"longest silence during the burst {r.max_gap_ms:.0f} ms"),
        ("decision rows rendered", f"{r.rows} (at most {r.rows_per_s_max:.0f}/s in any 1 s "
                                   f"window); {r.omitted:,} sampled out, counted on the page"),
        ("browser main-thread lag (100 ms timer drift, max)", f"{r.lag_max_ms:.0f} ms"),
        ("click on Halt until its confirmation dialog is open", f"{clicks} ms"),
        ("`/dashboard/live/` (polling fallback) fetched from the page", f"{polls} ms"),
        ("gate-health decisions/s on the page after the burst began", visible),
        ("CPU share during the burst (1.0 = one core)", cpu),
    ]
    table = "\n".join(f"| {label} | {value} |" for label, value in rows)
    return f"""## Dashboard under a {r.rate:,} intents/s burst (`tests/dashboard/test_burst.py`)

Run {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC on {os.cpu_count()} CPUs (nproc), {cpu_model},
{mem} RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}, load
average at the end {load}. Everything on this one machine over loopback: the publisher
(pytest), `run_nurse`, `run_dashboard_bridge` (tick {r.tick_s} s, at most
{r.max_rows_per_s} rows/s), daphne, PostgreSQL, Redis, NATS and headless Chromium
(Debian `chromium` via Playwright) showing `/dashboard/` over the websocket.

| measure | value |
|---|---|
{table}

The browser's load is set by the bridge, not by the gate's rate: a bounded number of
messages per second ({1 / r.tick_s:.0f} row batches + 1 stats point + heartbeats) and at most
{r.max_rows_per_s} rows/s whatever arrives; the rest is counted ("sampled out") and every
decision stays in the database. Reproduce with `DASHBOARD_BURST_WRITE=1
DASHBOARD_BURST_SECONDS=10 make test PYTEST_ARGS=tests/dashboard/test_burst.py`.
"""


def update_section(body: str, path: Path = DOC, name: str = "dashboard") -> None:
    """Replace only our section of docs/benchmarks.md (appending it when absent)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    tmp = path.with_suffix(".md.dashboard-tmp")
    tmp.write_text(text if text.endswith("\n") else text + "\n")
    tmp.replace(path)


def summary(r: BurstResult) -> dict[str, Any]:
    return {"decided": r.decided, "peak": r.peak_decisions_per_s, "ws": r.ws_events,
            "ws_max": r.ws_events_per_s_max, "rows": r.rows, "rows_max": r.rows_per_s_max,
            "omitted": r.omitted, "lag_ms": r.lag_max_ms, "gap_ms": r.max_gap_ms,
            "drain_s": r.drain_s, "tick_late_ms": r.bridge_tick_late_ms,
            "click_ms": statistics.median(r.click_ms) if r.click_ms else None,
            "poll_ms": statistics.median(r.poll_ms) if r.poll_ms else None, "cpu": r.cpu}
