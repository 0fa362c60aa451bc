"""The MCP server in its other homes: stdio (desktop clients) and daphne (production ASGI)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from mcp import Client, StdioServerParameters

from tests.mcp.conftest import free_port, mcp_client

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    """The test environment for a child process, pointed at the test database."""
    db = settings.DATABASES["default"]
    url = (f"postgres://{db['USER']}{':' + db['PASSWORD'] if db.get('PASSWORD') else ''}"
           f"@{db['HOST']}:{db['PORT']}/{db['NAME']}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="cio_site.settings",
               CIO_FLEET_SYNC_DISPATCH="none", **extra)
    return env


def _tool_data(result: Any) -> Any:
    assert result.is_error is False, result.content[0].text
    return result.structured_content["data"]


async def test_stdio_server_for_desktop_clients(agent_token: str) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=[str(ROOT / "manage.py"), "run_mcp_stdio"],
        env=_env(CIO_MCP_TOKEN=agent_token), cwd=str(ROOT))
    async with Client(params) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"get_trading_config", "apply_config_patch"} <= tools
        data = _tool_data(await client.call_tool("get_trading_config", {"symbol": "BTCUSDT"}))
        assert data["parameters"]["leverage"] == 10


def test_stdio_refuses_to_start_without_an_agent_token(transactional_db: None) -> None:
    done = subprocess.run([sys.executable, "manage.py", "run_mcp_stdio"], cwd=ROOT,
                          env=_env(CIO_MCP_TOKEN=""), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0
    assert "CIO_MCP_TOKEN" in done.stderr


def _wait_until_live(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health/live", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError("daphne did not start")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("daphne hung on SIGTERM") from None


@pytest.fixture
def daphne(agent_token: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
         "cio_site.asgi:application"], cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_live(base, proc)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.slow
async def test_daphne_serves_mcp_and_stops_on_sigterm(
    daphne: tuple[str, subprocess.Popen[bytes]], agent_token: str,
) -> None:
    base, proc = daphne
    # No lifespan under daphne: the first /mcp request starts the session manager.
    async with mcp_client(base, agent_token) as client:
        assert len((await client.list_tools()).tools) >= 13
        data = _tool_data(await client.call_tool("get_trading_state", {}))
        assert data["effective"]["state"] == "ACTIVE"
    started = time.monotonic()
    await asyncio.to_thread(_stop, proc)
    assert time.monotonic() - started < 15
