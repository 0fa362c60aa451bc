"""The JetStream stream of decisions, created by whichever process needs it first."""

from __future__ import annotations

from typing import Any

import nats
from nats.js.api import StorageType, StreamConfig


async def ensure_decision_stream(js: Any, *, name: str, subject_prefix: str) -> None:
    """Create the durable decisions stream if absent (7 days, 2 min duplicate window)."""
    try:
        await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        await js.add_stream(StreamConfig(
            name=name, subjects=[f"{subject_prefix}.>"], storage=StorageType.FILE,
            max_age=7 * 86400, duplicate_window=120.0))
