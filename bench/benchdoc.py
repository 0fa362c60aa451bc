"""Shared helpers for bench_*.py: machine facts and the delimited sections of docs/benchmarks.md.

Each benchmark owns one section of ``docs/benchmarks.md`` between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->``; ``update_section`` replaces only that block (appending it when absent)
and leaves every other section as it is.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
HEADER = ("# Benchmarks\n\nFigures measured on this project's machines with `make bench` "
          "(which runs `bench/run_all.py`, i.e. every `bench/bench_*.py`). Each section is "
          "written by its benchmark; edit the code, not the figures.\n")


def update_section(name: str, body: str, path: Path = DOC) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text if text.endswith("\n") else text + "\n")
    tmp.replace(path)


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _cmd(*args: str) -> str:
    if shutil.which(args[0]) is None and not Path(args[0]).exists():
        return "not found"
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine_facts() -> dict[str, str]:
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    try:
        mem = f"{int(mem_kb) / 1024 / 1024:.1f} GiB"
    except ValueError:
        mem = "unknown"
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": str(os.cpu_count()),
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "memory": mem,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "loadavg_at_start": _loadavg(),
    }
