"""The decision stream's replicas (NURSE_DECISION_REPLICAS) on a real 3-node JetStream cluster."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from django.conf import settings
from nats.js.errors import APIError

from cio_site.nats_url import nats_servers
from nurse.settings_bridge import nurse_config_from_settings
from nurse.streams import ensure_decision_stream
from tests.support.servers import Server, nats_cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[Server]]:
    servers = nats_cluster(tmp_path)
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


async def _ensure_when_ready(js: object, name: str, prefix: str, replicas: int) -> None:
    """The cluster elects its JetStream leader a few seconds after start."""
    deadline = time.monotonic() + 30
    while True:
        try:
            await ensure_decision_stream(js, name=name, subject_prefix=prefix,
                                         replicas=replicas)
            return
        except (APIError, nats.errors.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_replicas_are_raised_never_lowered_and_a_decision_is_stored_on_three(
    cluster: list[Server],
) -> None:
    # NATS_URL with the cluster's seeds, comma-separated, as the deployment sets it
    seeds = ", ".join(f"nats://127.0.0.1:{s.port}" for s in cluster)
    nc = await nats.connect(nats_servers(seeds))
    try:
        js = nc.jetstream()
        name, prefix = f"T_{uuid.uuid4().hex[:8].upper()}", f"t{uuid.uuid4().hex[:8]}.decision"
        await _ensure_when_ready(js, name, prefix, replicas=1)
        assert (await js.stream_info(name)).config.num_replicas == 1
        await ensure_decision_stream(js, name=name, subject_prefix=prefix, replicas=3)
        info = await js.stream_info(name)
        assert info.config.num_replicas == 3
        await ensure_decision_stream(js, name=name, subject_prefix=prefix, replicas=1)
        assert (await js.stream_info(name)).config.num_replicas == 3  # never lowered
        deadline = time.monotonic() + 30
        while True:  # the new replicas join and catch up with the leader
            info = await js.stream_info(name)
            peers = info.cluster.replicas if info.cluster else None
            if info.cluster and info.cluster.leader and peers and len(peers) == 2 \
                    and all(p.current for p in peers):
                break
            assert time.monotonic() < deadline, info.cluster
            await asyncio.sleep(0.2)
        ack = await js.publish(f"{prefix}.approved.s1", b'{"decision_id": "d1"}',
                               headers={"Nats-Msg-Id": "d1"}, timeout=10)
        assert ack.stream == name
        # One node down: a quorum (2 of 3) still stores decisions. When the killed node led
        # the stream, the others elect a new leader first: retried with the same id, as the
        # decision's Nats-Msg-Id makes a retry safe (stored once).
        cluster[2].kill()
        deadline = time.monotonic() + 30
        while True:
            try:
                ack = await js.publish(f"{prefix}.approved.s1", b'{"decision_id": "d2"}',
                                       headers={"Nats-Msg-Id": "d2"}, timeout=3)
                break
            except (nats.errors.TimeoutError, APIError, nats.errors.NoRespondersError):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.5)
        assert ack.seq == 2
    finally:
        await nc.close()


async def test_more_replicas_than_servers_refuses_to_create_the_stream() -> None:
    """A single server cannot hold 3 replicas: the error surfaces, nothing weaker is made."""
    nc = await nats.connect(settings.NATS_URL)
    try:
        js = nc.jetstream()
        name = f"T_{uuid.uuid4().hex[:8].upper()}"
        with pytest.raises(APIError):
            await ensure_decision_stream(js, name=name, subject_prefix=f"t{name.lower()}",
                                         replicas=3)
        with pytest.raises(nats.js.errors.NotFoundError):
            await js.stream_info(name)
    finally:
        await nc.close()


def test_the_setting_reaches_the_gate_config(settings: object) -> None:
    settings.NURSE_DECISION_REPLICAS = 3  # type: ignore[attr-defined]
    assert nurse_config_from_settings().decision_replicas == 3
