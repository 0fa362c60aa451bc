"""Shared test setup: the suite runs against real PostgreSQL, Redis and NATS servers.

`make test` starts them when absent and gives each run its own database, Redis key
namespace and JetStream stream (see the Makefile's TEST_ENV).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

# Shared fixtures that live in modules (Chromium for the browser tests).
pytest_plugins = ["tests.support.chromium"]

FIXTURES = Path(__file__).parent / "fixtures"


def _private_nats() -> None:
    """Opt-in (CIO_TEST_PRIVATE_NATS=1): a NATS server of this run's own, for machines where
    several test runs share 127.0.0.1:4222 and would answer each other's requests."""
    import atexit
    import tempfile

    from tests.support.servers import nats_server

    server = nats_server(Path(tempfile.mkdtemp(prefix="cio-test-nats-"))).start()
    atexit.register(server.stop)
    url = f"nats://127.0.0.1:{server.port}"
    for name in ("NATS_URL", "ALERT_NATS_URL"):
        if getattr(settings, name, None) in (None, settings.NATS_URL):
            os.environ[name] = url
            setattr(settings, name, url)


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CIO_TEST_PRIVATE_NATS") == "1":
        _private_nats()
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine and not os.environ.get("CIO_ALLOW_NON_PG_TESTS"):
        raise pytest.UsageError(
            f"tests run against PostgreSQL, got {engine}; use `make test` "
            "(or set DATABASE_URL=postgres://postgres@127.0.0.1:5432/cio_dev)"
        )


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """A client on the test Redis; every key of this run's namespace is removed afterwards."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    for key in client.scan_iter(match=f"{settings.CIO_NAMESPACE}:*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
async def nats_client() -> AsyncIterator[object]:
    import nats

    nc = await nats.connect(settings.NATS_URL, connect_timeout=3)
    yield nc
    await nc.drain()
