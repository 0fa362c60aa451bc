"""NATS for the fleet: ``<prefix>.<severity>.<category>`` carrying an ``AlertEvent``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from django.conf import settings

from alerts.channels.base import AlertMessage, Channel, ChannelError, ChannelResult
from alerts.redact import redact
from cio_site.nats_url import nats_servers

T = TypeVar("T")


def run_coroutine_sync(factory: Callable[[], Awaitable[T]], *, timeout: float = 15.0) -> T:
    """Run a coroutine from sync code, also when the calling thread already runs a loop."""

    async def main() -> T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = asyncio.run(main())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=runner, daemon=True)
    thread.start()
    thread.join(timeout=timeout)
    if "error" in box:
        raise box["error"]
    if "value" not in box:
        raise TimeoutError("coroutine did not finish in time")
    return box["value"]  # type: ignore[no-any-return]


async def _quiet(*_: Any) -> None:
    """nats-py logs every connection error loudly by default; the ledger records it instead."""


async def nats_connect(url: str) -> Any:
    """One short connection attempt that fails fast when the server is down.

    nats-py loops forever on a refused connection with ``max_reconnect_attempts=0``; one
    allowed re-attempt makes it give up with ``NoServersError``; ``wait_for`` bounds it all.
    """
    import nats

    return await asyncio.wait_for(
        nats.connect(nats_servers(url), connect_timeout=2, max_reconnect_attempts=1,
                     reconnect_time_wait=0.1, allow_reconnect=False, error_cb=_quiet),
        timeout=6,
    )


async def nats_publish(url: str, subject: str, body: bytes, headers: dict[str, str]) -> None:
    nc = await nats_connect(url)
    try:
        await nc.publish(subject, body, headers=headers)
        await nc.flush(timeout=2)  # the server's PONG: it has processed our PUB
    finally:
        await nc.close()


def alert_subject(severity: str, category: str) -> str:
    return f"{settings.ALERT_NATS_SUBJECT_PREFIX}.{severity}.{category}"


class NatsChannel(Channel):
    """Confirmed when the NATS server has the message (flush round trip).

    This is the fleet's bus: subscribers connected at that moment receive it; a JetStream
    stream bound to the subjects makes it durable (``Nats-Msg-Id`` deduplicates retries).
    """

    name: ClassVar[str] = "nats"
    label: ClassVar[str] = "NATS (fleet)"

    def configured(self) -> bool:
        return bool(settings.ALERT_NATS_URL)

    def send(self, message: AlertMessage) -> ChannelResult:
        subject = alert_subject(message.severity, message.category)
        body = message.event().model_dump_json().encode()
        headers = {"Nats-Msg-Id": message.delivery_key}
        try:
            run_coroutine_sync(
                lambda: nats_publish(str(settings.ALERT_NATS_URL), subject, body, headers)
            )
        except Exception as exc:
            raise ChannelError(redact(f"{type(exc).__name__}: {exc}")) from None
        return ChannelResult(confirmed=True, detail=subject[:200])
