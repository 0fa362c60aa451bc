#!/usr/bin/env python3
"""Run the whole product locally: web (daphne), the Nurse, the audit sink, Celery worker +
beat, the strategist and shadow-ROI feeds, the dashboard bridge and (unless ``--no-demo``)
the demo fleet with its stand-in trade engine.

Each process is a child of this one; Ctrl-C (or any child dying) stops them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"


def main() -> int:
    py = str(BIN / "python")
    # The demo has no engine position feed: trust fill-by-fill exposure accounting.
    os.environ.setdefault("NURSE_POSITIONS_MAX_AGE_S", "0")
    var = Path(os.environ.get("CIO_VAR_DIR", str(ROOT / "var")))
    var.mkdir(parents=True, exist_ok=True)
    manage = [py, "manage.py"]
    procs: dict[str, list[str]] = {
        "web": [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", os.environ.get("PORT", "8000"),
                "cio_site.asgi:application"],
        "celery": [str(BIN / "celery"), "-A", "cio_site", "worker", "-B", "-l", "info",
                   "--concurrency", "2", "-s", str(var / "celerybeat-schedule")],
        "nurse": [*manage, "run_nurse"],
        "audit-sink": [*manage, "run_audit_sink"],
        "strategist-feeds": [*manage, "run_strategist_feeds"],
        "shadow-feed": [*manage, "mark_shadow", "--listen"],
        "dashboard-bridge": [*manage, "run_dashboard_bridge"],
    }
    if "--no-demo" not in sys.argv:
        procs["demo-fleet"] = [*manage, "demo_fleet"]
    children = {name: subprocess.Popen(cmd, cwd=ROOT) for name, cmd in procs.items()}
    port = os.environ.get("PORT", "8000")
    print(f"run_all: started {', '.join(children)}; admin at http://127.0.0.1:{port}/admin/",
          flush=True)

    def stop(*_: object) -> None:
        for child in children.values():
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"run_all: {name} exited with {child.returncode}; stopping", flush=True)
                    stop()
                    return child.returncode or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop()
    for child in children.values():
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
