"""Kubernetes exec probes for the processes without an HTTP port (no Django import: cheap).

    python -m cio_site.probes file-fresh /tmp/celery-worker-alive 60
    python -m cio_site.probes jetstream-consumer CIO_DECISIONS cio-audit-sink 50000

``file-fresh``: exit 0 when the file was touched in the last N seconds (the Celery worker's
timer and the beat's task publishing touch theirs, see ``cio_site.celery``).
``jetstream-consumer``: exit 0 when the durable consumer exists and has at most N
undelivered messages (the audit sink is attached and keeping up); the NATS URL comes from
``NATS_URL_FILE`` or ``NATS_URL``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from cio_site.nats_url import nats_servers


def file_fresh(path: str, max_age_s: float) -> bool:
    try:
        return time.time() - Path(path).stat().st_mtime <= max_age_s
    except OSError:
        return False


def _nats_url() -> str:
    file_path = os.environ.get("NATS_URL_FILE")
    if file_path:
        return Path(file_path).read_text(encoding="utf-8").strip()
    return os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


async def _consumer_ok(stream: str, durable: str, max_pending: int) -> bool:
    import nats

    nc = await nats.connect(nats_servers(_nats_url()), connect_timeout=3, max_reconnect_attempts=0,
                            allow_reconnect=False)
    try:
        info = await nc.jetstream().consumer_info(stream, durable, timeout=3)
        return int(info.num_pending or 0) <= max_pending
    finally:
        await nc.close()


def jetstream_consumer(stream: str, durable: str, max_pending: int) -> bool:
    try:
        return asyncio.run(asyncio.wait_for(_consumer_ok(stream, durable, max_pending), 8))
    except Exception:  # any failure (NATS down, no consumer) is a failed probe
        return False


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "file-fresh":
        return 0 if file_fresh(argv[1], float(argv[2])) else 1
    if len(argv) == 4 and argv[0] == "jetstream-consumer":
        return 0 if jetstream_consumer(argv[1], argv[2], int(argv[3])) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
