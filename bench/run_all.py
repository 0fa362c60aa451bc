"""Run every benchmark: each ``bench/bench_*.py`` in name order, as its own process.

Usage: python bench/run_all.py [--only NAME ...] [-- extra args passed to every benchmark]
Exit status: non-zero when a benchmark failed to run (a missed performance target is a
finding written to docs/benchmarks.md, not a failure).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=None,
                        help="benchmark names (e.g. nurse mcp) to run; default all")
    args = parser.parse_args(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        wanted = {f"bench_{n.removeprefix('bench_').removesuffix('.py')}.py" for n in args.only}
        scripts = [s for s in scripts if s.name in wanted]
    if not scripts:
        print("run_all: no bench_*.py found", file=sys.stderr)
        return 1
    failures = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        started = time.monotonic()
        rc = subprocess.call([sys.executable, str(script), *extra], cwd=ROOT)
        print(f"=== {script.name}: exit {rc} in {time.monotonic() - started:.0f}s ===", flush=True)
        if rc != 0:
            failures.append(script.name)
    if failures:
        print(f"run_all: failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
