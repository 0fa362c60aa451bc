"""The JetStream stream of decisions, created by whichever process needs it first."""

from __future__ import annotations

import logging
from typing import Any

import nats
from nats.js.api import StorageType, StreamConfig

logger = logging.getLogger("nurse")


async def ensure_decision_stream(js: Any, *, name: str, subject_prefix: str,
                                 replicas: int = 1) -> None:
    """Create the durable decisions stream if absent (7 days, 2 min duplicate window).

    ``replicas`` (``NURSE_DECISION_REPLICAS``) is the number of servers that must store a
    decision before its ack, i.e. before the gate publishes the signal: 3 on a NATS
    cluster. An existing stream with fewer replicas is raised to it (never lowered: a
    larger figure set by an operator stays). A figure the servers cannot honour (more
    replicas than cluster nodes, or any above 1 on a single server) raises the server's
    error: the gate does not start with weaker durability than configured."""
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        await js.add_stream(StreamConfig(
            name=name, subjects=[f"{subject_prefix}.>"], storage=StorageType.FILE,
            max_age=7 * 86400, duplicate_window=120.0, num_replicas=replicas))
        return
    current = info.config.num_replicas or 1
    if current < replicas:
        logger.warning("raising the replicas of stream %s from %d to %d", name, current,
                       replicas)
        info.config.num_replicas = replicas
        await js.update_stream(info.config)
