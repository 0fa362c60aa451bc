"""The test/run set-up starts its own PostgreSQL, Redis and NATS when none answers.

Each server is started by ``scripts/devservices.py`` on a free port in a temporary
directory (next to the servers this machine already runs), then used for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
import redis

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def _run(service: str, port: int, var: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CIO_DEVSERVICES_DIR": str(var),
           f"CIO_DEVSERVICES_{service.upper()}_PORT": str(port)}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "devservices.py"), service],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_starts_redis_when_absent(tmp_path: Path) -> None:
    port = free_port()
    result = _run("redis", port, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "starting redis" in result.stdout
    client = redis.Redis(port=port)
    try:
        assert client.ping()
    finally:
        client.shutdown(nosave=True)


def test_starts_nats_with_jetstream_when_absent(tmp_path: Path) -> None:
    import asyncio

    import nats

    port = free_port()
    result = _run("nats", port, tmp_path)
    assert result.returncode == 0, result.stderr

    async def check() -> None:
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        info = await nc.jetstream().account_info()
        assert info.limits is not None
        await nc.close()

    asyncio.run(check())
    subprocess.run(["pkill", "-f", f"-p {port} -js"], check=False)


@pytest.mark.skipif(os.geteuid() != 0 and not os.access("/usr/lib/postgresql", os.X_OK),
                    reason="needs PostgreSQL binaries or root to install them")
def test_starts_postgres_when_absent() -> None:
    # Under the project's var/ as in real use (when the postgres user cannot reach it, as in
    # a checkout inside a private directory, devservices puts the cluster elsewhere).
    port = free_port()
    var = ROOT / "var" / f"devservices-test-{port}"
    var.mkdir(parents=True)
    data = _pg_data_dir(var)
    result = _run("postgres", port, var)
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres",
                             dbname="postgres") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        pg_ctl = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1]
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, str(pg_ctl), "-D", str(data), "-m", "immediate",
                        "stop"], check=False, capture_output=True)
        if data.parent != var:
            shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(var, ignore_errors=True)


def _pg_data_dir(var: Path) -> Path:
    """``scripts/devservices.py``'s answer for ``var`` (it reads its directory at import)."""
    code = ("import sys; sys.path.insert(0, 'scripts'); import devservices; "
            "print(devservices.pg_data_dir())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True,
                         env={**os.environ, "CIO_DEVSERVICES_DIR": str(var)})
    return Path(out.stdout.strip())


@pytest.mark.skipif(os.geteuid() != 0, reason="the fallback is for root (runuser postgres)")
def test_postgres_data_moves_out_of_a_directory_postgres_cannot_reach(tmp_path: Path) -> None:
    """A checkout in a private directory (mktemp -d is 0700): var/pg is out of reach for the
    postgres user, so the cluster goes under the system temporary directory instead."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    var = private / "var"
    var.mkdir()
    data = _pg_data_dir(var)
    assert data.parent == Path(tempfile.gettempdir())
    assert _pg_data_dir(var) == data  # the same checkout keeps its cluster
    private.chmod(0o711)
    tmp_path.chmod(0o711)
    reachable = all(p.stat().st_mode & 0o001 for p in (var.resolve(), *var.resolve().parents))
    assert (_pg_data_dir(var) == var / "pg") == reachable
