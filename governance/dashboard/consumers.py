"""The dashboard websocket: it only manages group membership and forwards group events.

Everything a browser receives was computed elsewhere (the bridge, a control): the consumer
checks the session (staff + verified TOTP device), joins the group, and relays.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from governance.dashboard.access import scope_is_verified, scope_still_verified
from governance.dashboard.events import KIND_HELLO, group_name

# Close codes (4000-4999 are the application's): the browser stops retrying on 4403.
CLOSE_FORBIDDEN = 4403


class DashboardConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """One browser tab on ``/ws/dashboard/``."""

    joined = False

    async def connect(self) -> None:
        if not await scope_is_verified(self.scope):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.channel_layer.group_add(group_name(), self.channel_name)
        self.joined = True
        await self.accept()
        await self.send_json({"kind": KIND_HELLO, "tick_s": settings.DASHBOARD_TICK_S,
                              "max_rows_per_s": settings.DASHBOARD_MAX_ROWS_PER_S})

    async def disconnect(self, code: int) -> None:
        if self.joined:
            await self.channel_layer.group_discard(group_name(), self.channel_name)
            self.joined = False

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The only client message is the keep-alive (every 25 s); each one re-checks the
        # session, so a logout or a lost second factor ends the stream within that time.
        if isinstance(content, dict) and content.get("kind") == "ping":
            if not await scope_still_verified(self.scope):
                await self.close(code=CLOSE_FORBIDDEN)
                return
            await self.send_json({"kind": "pong", "t": content.get("t")})

    async def dashboard_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])
