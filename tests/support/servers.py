"""Private, killable Redis and NATS servers for chaos tests (real binaries on loopback)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class Server:
    """A server process we can stop (SIGKILL) and start again on the same port."""

    def __init__(self, argv: list[str], port: int) -> None:
        self.argv = argv
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill()


def redis_server(port: int | None = None) -> Server:
    port = port or free_port()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    return Server([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no"], port)


def _nats_exe() -> str:
    binary = ROOT / ".venv" / "bin" / "nats-server"
    return str(binary) if binary.exists() else (shutil.which("nats-server") or "nats-server")


def nats_server(store: Path, port: int | None = None) -> Server:
    port = port or free_port()
    exe = _nats_exe()
    return Server([exe, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)], port)


def nats_cluster(store: Path, size: int = 3) -> list[Server]:
    """``size`` JetStream servers on loopback routed into one cluster (not started)."""
    exe = _nats_exe()
    ports = [free_port() for _ in range(size)]
    routes = [free_port() for _ in range(size)]
    seeds = ",".join(f"nats://127.0.0.1:{r}" for r in routes)
    return [Server([exe, "-a", "127.0.0.1", "-p", str(port), "-js",
                    "-sd", str(store / f"n{i}"), "--name", f"cio-test-n{i}",
                    "--cluster_name", "cio-test", "--cluster", f"nats://127.0.0.1:{route}",
                    "--routes", seeds], port)
            for i, (port, route) in enumerate(zip(ports, routes, strict=True))]
