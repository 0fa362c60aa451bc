"""The disk spool: where raises go while the database is unreachable, so none is lost.

Raises of one dedup key share one file (the count grows), written atomically under a lock.
While the database stays down, ``spool_deliver_direct`` sends each spooled alert straight
through the channels (no ledger; the outcome is kept in the file); once the database is
back, ``alerts.services.alert_spool_replay`` stores them and drops the files.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from alerts.contracts import AlertIn

logger = logging.getLogger(__name__)


@dataclass
class SpoolEntry:
    """One spooled alert (possibly several folded raises)."""

    path: Path
    request: AlertIn
    dedup_key: str
    public_id: uuid.UUID
    first_seen: dt.datetime
    last_seen: dt.datetime
    count: int
    direct: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> str:
        return json.dumps({
            "request": self.request.model_dump(mode="json"),
            "dedup_key": self.dedup_key,
            "public_id": str(self.public_id),
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "count": self.count,
            "direct": self.direct,
        })


def spool_dir() -> Path:
    return Path(settings.VAR_DIR) / "alerts-spool"


@contextmanager
def _locked() -> Iterator[Path]:
    directory = spool_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield directory
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(entry: SpoolEntry) -> None:
    tmp = entry.path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(entry.as_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, entry.path)


def _read(path: Path) -> SpoolEntry:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return SpoolEntry(
        path=path, request=AlertIn(**data["request"]), dedup_key=data["dedup_key"],
        public_id=uuid.UUID(data["public_id"]),
        first_seen=dt.datetime.fromisoformat(data["first_seen"]),
        last_seen=dt.datetime.fromisoformat(data["last_seen"]),
        count=int(data["count"]), direct=dict(data.get("direct") or {}),
    )


def spool_write(request: AlertIn, *, dedup_key: str, now: dt.datetime) -> uuid.UUID:
    """Add one raise to the spool (fsynced); returns the id the alert will keep."""
    with _locked() as directory:
        path = directory / f"{hashlib.sha256(dedup_key.encode()).hexdigest()[:24]}.json"
        if path.exists():
            entry = _read(path)
            entry.count += 1
            entry.last_seen = max(entry.last_seen, now)
            if request.severity == "critical" and entry.request.severity != "critical":
                entry.request = request
                entry.direct = {}  # escalated: tell every channel again
        else:
            entry = SpoolEntry(path=path, request=request, dedup_key=dedup_key,
                               public_id=uuid.uuid4(), first_seen=now, last_seen=now, count=1)
        _write(entry)
        return entry.public_id


def spool_entries() -> list[SpoolEntry]:
    directory = spool_dir()
    if not directory.exists():
        return []
    entries = []
    for path in sorted(directory.glob("*.json")):
        try:
            entries.append(_read(path))
        except (OSError, ValueError, KeyError) as exc:
            logger.error("unreadable alert spool file %s (%s); left in place", path.name,
                         type(exc).__name__)
    return sorted(entries, key=lambda e: e.first_seen)


def spool_count() -> int:
    directory = spool_dir()
    return len(list(directory.glob("*.json"))) if directory.exists() else 0


def spool_remove(entry: SpoolEntry) -> None:
    with _locked():
        entry.path.unlink(missing_ok=True)


def spool_deliver_direct(*, now: dt.datetime) -> dict[str, dict[str, str]]:
    """Send every spooled alert through every configured channel not yet reached.

    The database is down, so routing rules cannot be read: every channel is used."""
    from alerts.channels import ChannelError, channels_all
    from alerts.channels.base import AlertMessage
    from alerts.ratelimit import rate_limit_take
    from alerts.redact import redact

    report: dict[str, dict[str, str]] = {}
    for entry in spool_entries():
        req = entry.request
        message = AlertMessage(
            alert_id=str(entry.public_id), purpose="raise", severity=req.severity,
            category=req.category, source=req.source, message=req.message, last_message="",
            dedup_key=entry.dedup_key, count=entry.count, first_seen=entry.first_seen,
            last_seen=entry.last_seen, status="open", context=req.context,
            trace_id=req.trace_id, note="sent from the disk spool: the database is unreachable",
        )
        for channel in channels_all():
            if entry.direct.get(channel.name) in ("confirmed", "emitted", "skipped"):
                continue
            if not channel.configured():
                entry.direct[channel.name] = "skipped"
                continue
            if rate_limit_take(channel.name, critical=req.severity == "critical",
                               now=now.timestamp()) > 0:
                continue
            try:
                result = channel.send(message)
            except ChannelError as exc:
                entry.direct[channel.name] = f"failed: {redact(str(exc), limit=200)}"
                continue
            except Exception as exc:  # one broken channel must not stop the others
                entry.direct[channel.name] = f"failed: unexpected {type(exc).__name__}"
                continue
            entry.direct[channel.name] = "confirmed" if result.confirmed else "emitted"
        with _locked():
            if entry.path.exists():
                fresh = _read(entry.path)  # raises may have folded in meanwhile
                if fresh.public_id == entry.public_id:
                    fresh.direct.update(entry.direct)
                    _write(fresh)
        report[str(entry.public_id)] = dict(entry.direct)
    return report
