"""ASGI entry point: HTTP (admin, API), the MCP endpoint and websockets (dashboard).

``/mcp`` goes to the MCP server (Streamable HTTP, scope forwarded unchanged); every other
HTTP request to Django; websockets to the Channels routes of ``governance.dashboard.routing``
(session auth, allowed origins). Lifespan events (sent by uvicorn, not by daphne) start and
stop the MCP session manager; under daphne the first ``/mcp`` request starts it.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cio_site.settings")

# Any: django-stubs types ASGIHandler's scope as dict and its send as taking Mapping, while
# the servers hand every application the generic ASGI objects typed below.
django_application: Any = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from cio_site.telemetry import TracedAsgi  # noqa: E402
from governance.dashboard.routing import websocket_application  # noqa: E402
from governance.mcp.asgi import McpHttpApp  # noqa: E402  (needs the app registry loaded)

mcp_application = McpHttpApp()
# Django's own instrumentation traces the other HTTP routes; /mcp gets the ASGI one.
traced_mcp_application = TracedAsgi(mcp_application)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await mcp_application.startup()
            except Exception as exc:  # reported to the server, which then refuses to start
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await mcp_application.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def lifespan_application(scope: Scope, receive: Receive, send: Send) -> None:
    await _lifespan(receive, send)


async def http_application(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope.get("path", "")
    if path == "/mcp" or path.startswith("/mcp/"):
        await traced_mcp_application(scope, receive, send)
        return
    await django_application(scope, receive, send)


application = ProtocolTypeRouter({
    "http": http_application,
    "websocket": websocket_application(),
    "lifespan": lifespan_application,
})
