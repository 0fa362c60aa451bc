#!/usr/bin/env python3
"""Speed of ``manage.py replay``: 100,000 intents against 5-minute candles.

1. Candles: the Binance spot BTCUSDT and ETHUSDT 5-minute files of ``../shared/data/ohlcv``
   (Dec 2020 - Jul 2021, ~65,700 bars each); without ``../shared``, the crash-week fixture.
2. Intents: the crash-week fleet of ``nurse.replay.scenario`` run over the whole period,
   copied under distinct strategy ids until there are ``--intents`` of them (default
   100,000), written as JSONL.
3. Policy: a snapshot file of the catalog defaults and hard gates (``--policy-file``), so
   no database is needed and every run decides the same way.
4. Run ``python manage.py replay --intents ... --candles ... --policy-file ... --json
   --out ...`` as a child process ``--runs`` times (wall time includes Python and Django
   start-up) and once in process with a phase breakdown; report the median.
5. Write the figures, the machine and the date to ``docs/benchmarks.md`` between
   ``<!-- replay:start -->`` and ``<!-- replay:end -->`` (``bench.benchdoc``).

Usage: ``python bench/bench_replay.py [--intents 100000] [--runs 3]``. The target is
under 60 s for 1e5 intents (a missed target is reported, not an error).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cio_site.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from benchdoc import machine_facts, update_section  # noqa: E402  (needs sys.path)

SHARED = ROOT.parent / "shared" / "data" / "ohlcv"
FULL = [SHARED / "binance_spot_BTCUSDT_5m_20201201_20210717.csv",
        SHARED / "binance_spot_ETHUSDT_5m_20201201_20210717.csv"]
FIXTURE = [ROOT / "tests" / "fixtures" / "candles" / f"binance_spot_{s}_5m_20210515_20210525.csv"
           for s in ("BTCUSDT", "ETHUSDT")]
TARGET_S = 60.0


def _candle_files() -> list[Path]:
    return FULL if all(p.exists() for p in FULL) else FIXTURE


def _intents(files: list[Path], count: int, out: Path) -> dict[str, Any]:
    import datetime as dt

    from nurse.replay.candles import load_candle_set
    from nurse.replay.scenario import crash_week_intents

    candles = load_candle_set([str(p) for p in files])
    btc = candles["BTCUSDT"]
    start = dt.datetime.fromtimestamp(int(btc.open_ms[300]) / 1000, dt.UTC)
    end = dt.datetime.fromtimestamp(int(btc.open_ms[-600]) / 1000, dt.UTC)
    base = crash_week_intents(candles, start=start.isoformat(), end=end.isoformat())
    intents: list[dict[str, Any]] = []
    copy = 0
    while len(intents) < count:
        for item in base:
            clone = dict(item)
            clone["strategy_id"] = f"{item['strategy_id']}-{copy}"
            clone["signal_id"] = f"{item['signal_id']}-{copy}"
            clone["ts"] = clone["timestamp"] = item["ts"] + copy * 1000  # 1 s apart per copy
            intents.append(clone)
        copy += 1
    intents = sorted(intents, key=lambda d: (d["ts"], d["strategy_id"]))[:count]
    with out.open("w") as handle:
        for item in intents:
            handle.write(json.dumps(item, separators=(",", ":")) + "\n")
    return {"copies": copy, "per_copy": len(base), "from": start.isoformat(),
            "to": end.isoformat(), "bars": {s: len(c) for s, c in candles.items()}}


def _policy(out: Path) -> None:
    from governance.catalog import catalog_defaults
    from governance.hard_gates import hard_gate_defaults

    out.write_text(json.dumps({"policy_version": 0, "defaults": catalog_defaults(),
                               "scopes": {}, "states": {},
                               "hard_gates": hard_gate_defaults()}, default=list))


def _in_process(intents: Path, files: list[Path], policy: Path) -> dict[str, float]:
    from nurse.replay.candles import load_candle_set
    from nurse.replay.engine import ReplayConfig, exchange_filters_load, replay_run
    from nurse.replay.intents import load_intents

    t0 = time.perf_counter()
    items = load_intents(str(intents))
    t1 = time.perf_counter()
    candles = load_candle_set([str(p) for p in files])
    t2 = time.perf_counter()
    report = replay_run(intents=items, candles=candles,
                        snapshot=json.loads(policy.read_text()),
                        exchange=exchange_filters_load(), config=ReplayConfig())
    t3 = time.perf_counter()
    json.dumps(report, sort_keys=True)
    t4 = time.perf_counter()
    return {"load_intents_s": t1 - t0, "load_candles_s": t2 - t1, "replay_s": t3 - t2,
            "report_s": t4 - t3, "per_intent_us": (t3 - t2) / len(items) * 1e6,
            "approved": report["approved"], "blocked": report["blocked"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--intents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import django

    django.setup()
    files = _candle_files()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        work = Path(tmp)
        intents, policy, out = work / "intents.jsonl", work / "policy.json", work / "r.json"
        made = _intents(files, args.intents, intents)
        _policy(policy)
        cmd = [sys.executable, str(ROOT / "manage.py"), "replay", "--intents", str(intents),
               "--candles", ",".join(str(p) for p in files), "--policy-file", str(policy),
               "--json", "--out", str(out)]
        walls = []
        reports = []
        for run in range(args.runs):
            started = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            walls.append(time.perf_counter() - started)
            reports.append(out.read_text())
            print(f"run {run + 1}: {walls[-1]:.1f} s", flush=True)
        phases = _in_process(intents, files, policy)
        report = json.loads(reports[-1])
    same = len(set(reports)) == 1
    wall = statistics.median(walls)
    facts = machine_facts()
    verdict = "met" if wall < TARGET_S else "MISSED"
    rows = [
        (f"wall time, median of {args.runs} runs (incl. Python + Django start-up)",
         f"**{wall:.1f} s** (target < {TARGET_S:.0f} s: {verdict})"),
        ("all runs", ", ".join(f"{w:.1f} s" for w in walls)),
        ("in process: load intents / candles",
         f"{phases['load_intents_s']:.2f} s / {phases['load_candles_s']:.2f} s"),
        ("in process: replay loop (gate + ledger + positions + ladder + regime)",
         f"{phases['replay_s']:.2f} s ({phases['per_intent_us']:.0f} us per intent)"),
        ("in process: report to JSON", f"{phases['report_s']:.3f} s"),
        ("decisions", f"{report['approved']:,} approved, {report['blocked']:,} blocked"),
        ("identical reports across runs", "yes" if same else "NO"),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    bars = ", ".join(f"{s} {n:,} bars" for s, n in made["bars"].items())
    body = f"""## Policy replay (`bench/bench_replay.py`)

{args.intents:,} intents (the crash-week fleet of `nurse.replay.scenario` over
{made['from'][:10]} .. {made['to'][:10]}, {made['copies']} copies of {made['per_copy']:,}
intents under distinct strategy ids) against Binance spot BTCUSDT + ETHUSDT 5-minute candles
({bars}); catalog-default policy from a snapshot file; `python manage.py replay ... --json
--out FILE` as a child process.

| what | value |
|---|---|
{table}

Machine: {facts['cpu_model']}, {facts['nproc']} cores, {facts['memory']}, Linux
{facts['kernel']}, Python {facts['python']}, load {facts['loadavg_at_start']} at start;
measured {facts['date_utc']}.
"""
    update_section("replay", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
