"""Loopback servers and runners for the canary tests (no Django, no database)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from canary import heartbeat_watch, nuclear_option
from tests.canary.binance_sim import BinanceFuturesSim

REPO_ROOT = Path(__file__).resolve().parents[2]
NUCLEAR_SCRIPT = REPO_ROOT / "canary" / "nuclear_option.py"
WATCH_SCRIPT = REPO_ROOT / "canary" / "heartbeat_watch.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_port_url(scheme: str = "nats") -> str:
    """A loopback URL nobody listens on (connection refused at once)."""
    return f"{scheme}://127.0.0.1:{free_port()}"


def base_env() -> dict[str, str]:
    """A clean environment: nothing from the developer's shell (keys, proxies) leaks in."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    if "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    return env


@dataclass
class Result:
    """Exit code plus the parsed JSON report and the human summary."""

    code: int
    report: dict[str, Any]
    stdout: str
    stderr: str


def _result(code: int, stdout: str, stderr: str) -> Result:
    try:
        report = json.loads(stdout) if stdout.strip() else {}
    except json.JSONDecodeError:
        report = {}
    return Result(code, report, stdout, stderr)


def run_nuclear(argv: list[str], env: dict[str, str]) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = nuclear_option.main(argv, env=env, stdout=out, stderr=err)
    return _result(code, out.getvalue(), err.getvalue())


def run_watch(argv: list[str], env: dict[str, str]) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = heartbeat_watch.main(argv, env=env, stdout=out, stderr=err)
    return _result(code, out.getvalue(), err.getvalue())


def run_script(script: Path, argv: list[str], env: dict[str, str], timeout: float = 60) -> Result:
    proc = subprocess.run(
        [sys.executable, str(script), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=str(REPO_ROOT),
    )
    return _result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def sim() -> Iterator[BinanceFuturesSim]:
    simulator = BinanceFuturesSim()
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def hedge_sim() -> Iterator[BinanceFuturesSim]:
    simulator = BinanceFuturesSim(hedge_mode=True)
    simulator.start()
    yield simulator
    simulator.stop()


def nuclear_env(sim: BinanceFuturesSim, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment pointing the script at the simulator, with short waits for tests."""
    env = base_env()
    env.update(
        BINANCE_FUTURES_BASE_URL=sim.base_url,
        BINANCE_API_KEY=sim.api_key,
        BINANCE_API_SECRET=sim.api_secret,
        CANARY_STATE_FILE=str(tmp_path / "canary-state.json"),
        CANARY_HIBERNATE_MARKER=str(tmp_path / "canary-hibernate.json"),
        CANARY_NATS_URL=closed_port_url(),
        CANARY_BACKOFF_BASE_S="0.01",
        CANARY_ROUND_PAUSE_S="0",
        CANARY_MAX_WAIT_S="5",
        CANARY_HTTP_TIMEOUT_S="5",
        CANARY_NATS_TIMEOUT_S="1",
    )
    env.update(extra)
    return env


# -- NATS -------------------------------------------------------------------------------------


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """A private nats-server on a free port, so other suites' subscribers cannot answer us.

    Falls back to the machine's server on 127.0.0.1:4222 when the binary is not installed.
    """
    binary = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
    if not Path(binary).exists():
        if _port_open("127.0.0.1", 4222):
            yield "nats://127.0.0.1:4222"
            return
        pytest.skip("no nats-server binary and nothing listening on 127.0.0.1:4222")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _port_open("127.0.0.1", port):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("nats-server did not start")
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class NatsPeer:
    """A nats-py client on its own event loop thread: subscribes and answers for the tests."""

    def __init__(self, url: str) -> None:
        import nats

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._nc = self._run(nats.connect(url, connect_timeout=2, max_reconnect_attempts=0))

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def collect(self, subject: str) -> list[bytes]:
        received: list[bytes] = []

        async def on_message(msg: Any) -> None:
            received.append(msg.data)

        self._run(self._nc.subscribe(subject, cb=on_message))
        self._run(self._nc.flush())
        return received

    def respond(self, subject: str, reply: Callable[[bytes], bytes]) -> list[bytes]:
        requests: list[bytes] = []

        async def on_request(msg: Any) -> None:
            requests.append(msg.data)
            await msg.respond(reply(msg.data))

        self._run(self._nc.subscribe(subject, cb=on_request))
        self._run(self._nc.flush())
        return requests

    def close(self) -> None:
        self._run(self._nc.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


@pytest.fixture
def nats_peer(nats_url: str) -> Iterator[NatsPeer]:
    peer = NatsPeer(nats_url)
    yield peer
    peer.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
