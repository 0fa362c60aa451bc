"""What travels to browsers: the channel group, the event kinds and the row shape.

Every message the bridge (or a control) sends to the group is ``{"type": "dashboard.event",
"event": {"kind": ..., ...}}``; the consumer forwards ``event`` to the browser unchanged, so
the browser and the polling fallback see one and the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

logger = logging.getLogger(__name__)

# Consumer handler name: "dashboard.event" -> DashboardConsumer.dashboard_event.
MESSAGE_TYPE: Final = "dashboard.event"
KIND_ROWS: Final = "rows"  # sampled decision rows of one tick
KIND_STATS: Final = "stats"  # one second of gate health
KIND_STATE: Final = "state"  # trading state / policy version changed
KIND_HEARTBEATS: Final = "heartbeats"  # every Nurse instance's last heartbeat
KIND_HELLO: Final = "hello"  # first message on connect: the server's limits


def group_name() -> str:
    """The one channel group every dashboard socket joins (the layer prefix namespaces it)."""
    return str(settings.DASHBOARD_GROUP)


def decision_row(decision: Mapping[str, Any]) -> dict[str, Any]:
    """The browser's view of one decision (the gate's decision body, trimmed).

    ``signal_id`` falls back to ``decision_id`` so every row has a stable ``data-signal-id``.
    """
    decision_id = str(decision.get("decision_id") or "")
    reasons = decision.get("reasons") or []
    return {
        "decision_id": decision_id,
        "signal_id": str(decision.get("signal_id") or decision_id),
        "strategy_id": str(decision.get("strategy_id") or "unknown")[:128],
        "symbol": str(decision.get("symbol") or "UNKNOWN")[:32],
        "action": str(decision.get("action") or "")[:8],
        "quantity": decision.get("quantity"),
        "notional": decision.get("notional"),
        "outcome": "approved" if decision.get("outcome") == "approved" else "blocked",
        "reasons": [
            {"code": str(r.get("code", ""))[:64], "detail": str(r.get("detail", ""))[:200]}
            for r in reasons[:8] if isinstance(r, Mapping)
        ],
        "latency_us": int(decision.get("latency_us") or 0),
        "policy_version": int(decision.get("policy_version") or 0),
        "decided_at": str(decision.get("decided_at") or ""),
    }


def _message(event: dict[str, Any]) -> dict[str, Any]:
    return {"type": MESSAGE_TYPE, "event": event}


async def abroadcast(event: dict[str, Any], *, layer: Any = None) -> None:
    """Send one event to every connected dashboard (no-op without a channel layer)."""
    layer = layer or get_channel_layer()
    if layer is None:
        return
    await layer.group_send(group_name(), _message(event))


def broadcast(event: dict[str, Any]) -> None:
    """Synchronous ``abroadcast`` for views and ``transaction.on_commit``; never raises."""
    try:
        async_to_sync(abroadcast)(event)
    except Exception as exc:  # a live view is best effort; the page polls as a fallback
        logger.warning("dashboard broadcast failed: %s", type(exc).__name__)
