"""``/mcp`` over Streamable HTTP: bearer-token auth, then the SDK's session manager.

Lifecycle: the session manager's ``run()`` must be active while requests are served and can
be entered once. uvicorn sends ASGI lifespan events (``startup``/``shutdown`` below); daphne
does not, so the first ``/mcp`` request starts it. It runs in its own task on the serving
loop; a new loop (a server restarted in the same process, as tests do) gets a fresh manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from mcp.server.lowlevel.server import Server
from mcp.server.transport_security import TransportSecuritySettings

from governance.api.tracing import trace_id_from_headers, trace_id_from_traceparent
from governance.auth import SCOPE_AGENT, Principal, Unauthenticated, api_token_authenticate
from governance.mcp.server import build_server

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def transport_security() -> TransportSecuritySettings:
    """DNS-rebinding guard from ``CIO_MCP_ALLOWED_HOSTS`` (``*`` turns it off)."""
    hosts = [h for h in settings.CIO_MCP_ALLOWED_HOSTS if h]
    if "*" in hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    allowed_hosts: list[str] = []
    origins: list[str] = list(settings.CIO_MCP_ALLOWED_ORIGINS)
    for host in hosts:
        if host.startswith("."):
            continue  # subdomain wildcards: list the exact hosts in CIO_MCP_ALLOWED_HOSTS
        allowed_hosts += [host, f"{host}:*"]
        origins += [f"http://{host}", f"https://{host}", f"http://{host}:*", f"https://{host}:*"]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True,
                                     allowed_hosts=allowed_hosts, allowed_origins=origins)


async def _json(send: Send, status: int, body: dict[str, Any],
                extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()),
                            *(extra_headers or [])]})
    await send({"type": "http.response.body", "body": payload})


def _error(code: str, message: str, trace_id: str) -> dict[str, Any]:
    return {"success": False, "data": None, "trace_id": trace_id,
            "error": {"code": code, "message": message, "details": {}}}


def _authenticate(header: str) -> Principal:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send Authorization: Bearer <token>")
    return api_token_authenticate(token)


class McpHttpApp:
    """The ASGI app behind ``/mcp``."""

    def __init__(self, server: Server[Any] | None = None) -> None:
        self._server = server
        self._app: ASGIApp | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def server(self) -> Server[Any]:
        if self._server is None:
            self._server = build_server()
        return self._server

    async def startup(self) -> None:
        await self._ensure_started()

    async def shutdown(self) -> None:
        task, stop = self._task, self._stop
        self._app = self._task = self._stop = None
        self._loop = None
        if task is None or stop is None:
            return
        stop.set()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)

    async def _ensure_started(self) -> ASGIApp:
        loop = asyncio.get_running_loop()
        if self._app is not None and self._loop is loop:
            return self._app
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:
            if self._app is not None and self._loop is loop:
                return self._app
            server = self.server()
            app = server.streamable_http_app(
                streamable_http_path="/mcp",
                json_response=settings.CIO_MCP_JSON_RESPONSE,
                stateless_http=settings.CIO_MCP_STATELESS,
                transport_security=transport_security(),
            )
            manager = server.session_manager
            ready, stop = asyncio.Event(), asyncio.Event()

            async def run() -> None:
                async with manager.run():
                    ready.set()
                    await stop.wait()

            task = loop.create_task(run(), name="cio-mcp-session-manager")
            waiter = loop.create_task(ready.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if not ready.is_set():
                waiter.cancel()
                task.result()  # re-raise what stopped it
                raise RuntimeError("the MCP session manager stopped during startup")
            self._app, self._loop, self._task, self._stop = app, loop, task, stop
            return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        trace_id = trace_id_from_headers(headers)
        try:
            principal = await sync_to_async(_authenticate, thread_sensitive=True)(
                headers.get("authorization", ""))
        except Unauthenticated as exc:
            await _json(send, 401, _error("UNAUTHENTICATED", exc.message, trace_id),
                        [(b"www-authenticate", b'Bearer realm="petrosa-cio"')])
            return
        if not principal.has(SCOPE_AGENT):
            await _json(send, 403, _error(
                "INSUFFICIENT_SCOPE", "the MCP endpoint needs a token with the 'agent' scope",
                trace_id))
            return
        app = await self._ensure_started()
        state = dict(scope.get("state") or {})
        explicit = trace_id_from_traceparent(headers.get("traceparent")) is not None
        state.update(cio_principal=principal, cio_trace_id=trace_id,
                     cio_trace_explicit=explicit)
        await app({**scope, "state": state}, receive, send)
