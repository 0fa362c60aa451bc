#!/usr/bin/env python3
"""Run the whole product locally: web (daphne), the Nurse, Celery worker + beat.

Each process is a child of this one; Ctrl-C (or any child dying) stops them all. Extra
processes are enabled when their management command exists, so the script follows the
code base as it grows.
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


def _has_command(app: str, name: str) -> bool:
    return (ROOT / app / "management" / "commands" / f"{name}.py").exists()


def main() -> int:
    py = str(BIN / "python")
    # The demo has no engine position feed: trust fill-by-fill exposure accounting.
    os.environ.setdefault("NURSE_POSITIONS_MAX_AGE_S", "0")
    procs: dict[str, list[str]] = {
        "web": [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", os.environ.get("PORT", "8000"),
                "cio_site.asgi:application"],
        "celery": [str(BIN / "celery"), "-A", "cio_site", "worker", "-B", "-l", "info",
                   "--concurrency", "2", "-s", str(ROOT / "var" / "celerybeat-schedule")],
    }
    if _has_command("nurse", "run_nurse"):
        procs["nurse"] = [py, "manage.py", "run_nurse"]
    if _has_command("nurse", "run_audit_sink"):
        procs["audit-sink"] = [py, "manage.py", "run_audit_sink"]
    if _has_command("strategist", "run_strategist_feeds"):
        procs["strategist-feeds"] = [py, "manage.py", "run_strategist_feeds"]
    if _has_command("governance", "run_dashboard_bridge"):
        procs["dashboard-bridge"] = [py, "manage.py", "run_dashboard_bridge"]
    for app in ("governance", "nurse", "strategist"):
        if _has_command(app, "demo_fleet") and "--no-demo" not in sys.argv:
            procs["demo-fleet"] = [py, "manage.py", "demo_fleet"]
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
