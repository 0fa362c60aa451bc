"""Serve ``cio_site.asgi:application`` with uvicorn in a thread on a free loopback port.

The server runs in this process, so it uses the test database (``transactional_db``: what
the test writes is committed and visible to the server's threads, and the other way round).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
from asgiref.sync import SyncToAsync
from django.db import connection, connections
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from governance.auth import api_token_create

THOUGHT = (
    "BTCUSDT realised volatility doubled in the last hour and two strategies hit their stops; "
    "lowering leverage on the symbol limits the loss per move until the regime settles down."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _close_server_connections() -> None:
    # Tool calls and token checks run on asgiref's single sync thread: close its connection
    # there, then drop any connection a finished request thread left behind.
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
def asgi_server(transactional_db: None) -> Iterator[str]:
    from cio_site.asgi import application

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    _close_server_connections()


@pytest.fixture
def agent_token(transactional_db: None) -> str:
    _, raw = api_token_create(principal="strategist",
                              scopes=["agent", "read", "config:write", "state:write"],
                              created_by="test")
    return raw


@asynccontextmanager
async def mcp_client(base_url: str, token: str, headers: dict[str, str] | None = None
                     ) -> AsyncIterator[Client]:
    """The official MCP client over Streamable HTTP with a bearer token."""
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}",
                                           **(headers or {})})
    async with http, Client(streamable_http_client(f"{base_url}/mcp", http_client=http)
                            ) as client:
        yield client
