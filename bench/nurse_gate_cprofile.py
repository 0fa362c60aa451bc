"""Run one gate exactly like ``manage.py run_nurse`` but under cProfile with a CPU-time clock.

Used by ``bench_nurse.py --cprofile``: wall-clock samplers (py-spy) on this 2-core machine
count time a runnable process waits for a CPU (e.g. after a loopback write wakes the NATS
server) as time spent in the syscall; ``time.process_time`` as the profiler clock attributes
CPU only. cProfile's own overhead inflates pure-Python call costs (~1.5-2x), so read the
output as proportions. On SIGTERM the stats go to ``--out`` (pstats) and ``--out``.txt.

Usage: nurse_gate_cprofile.py --instance ID --out var/bench/nurse-gate.pstats
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cio_site.settings")

import django  # noqa: E402

django.setup()

from nurse.runner import NurseRunner  # noqa: E402
from nurse.settings_bridge import nurse_config_from_settings  # noqa: E402


async def run(runner: NurseRunner) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.request_stop)
    await runner.run_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instance", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    config = nurse_config_from_settings()
    config.instance = args.instance
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    try:
        asyncio.run(run(NurseRunner(config)))
    finally:
        prof.disable()
        prof.dump_stats(args.out)
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(60)
        Path(args.out + ".txt").write_text(buf.getvalue())


if __name__ == "__main__":
    main()
