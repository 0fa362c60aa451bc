"""Debian's Chromium for the browser tests, installed on first use (Playwright drives it
through ``executable_path``: ``playwright install`` cannot download browsers here)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CIO_CHROMIUM") or "/usr/bin/chromium"


def _install_chromium() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock_path = Path("/tmp/cio-chromium-install.lock")
    with lock_path.open("w") as lock:
        # Parallel test runs on one machine must not race for dpkg's lock.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if Path(CHROMIUM).exists():
            return
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=900)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                        "-o", "DPkg::Lock::Timeout=600", "chromium"],
                       env=env, check=True, timeout=1800)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium, installed on first use when we may; skipped (with why) otherwise."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.skip(f"{CHROMIUM} is missing and cannot be installed here (needs root and "
                        "apt-get): run `apt-get install chromium`")
        try:
            _install_chromium()
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.fail(f"apt-get install chromium failed: {exc}")
        if not Path(CHROMIUM).exists():
            pytest.fail(f"apt-get install chromium left no {CHROMIUM}")
    return CHROMIUM


