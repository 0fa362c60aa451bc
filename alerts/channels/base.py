"""What a channel is: it receives a rendered ``AlertMessage`` and confirms, fails or only emits."""

from __future__ import annotations

import abc
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar

from alerts.contracts import AlertEvent

_HEAD = {"raise": "", "summary": "storm over: ", "resolved": "RESOLVED: "}


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One notice about one alert, as every channel renders it."""

    alert_id: str
    purpose: str
    severity: str
    category: str
    source: str
    message: str
    last_message: str
    dedup_key: str
    count: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    status: str
    context: dict[str, Any] = field(default_factory=dict)
    trace_id: str = ""
    note: str = ""

    @property
    def delivery_key(self) -> str:
        """Stable per notice: receivers that deduplicate (JetStream) drop our retries."""
        return f"{self.alert_id}:{self.purpose}"

    @property
    def title(self) -> str:
        times = f" (x{self.count})" if self.count > 1 else ""
        first_line = self.message.splitlines()[0] if self.message else ""
        return (f"[{self.severity.upper()}] {_HEAD.get(self.purpose, '')}{self.category}: "
                f"{first_line[:120]}{times}")

    @property
    def text(self) -> str:
        lines = [self.title, "", self.message, "",
                 f"source: {self.source}", f"category: {self.category}",
                 f"severity: {self.severity}", f"first seen: {self.first_seen.isoformat()}"]
        if self.count > 1:
            lines.append(f"occurrences: {self.count} (last {self.last_seen.isoformat()})")
            if self.last_message and self.last_message != self.message:
                lines.append(f"last message: {self.last_message}")
        if self.purpose == "summary":
            span = (self.last_seen - self.first_seen).total_seconds()
            lines.append(f"storm: {self.count} identical alerts over {span:.0f} s, now quiet")
        if self.note:
            lines.append(f"note: {self.note}")
        if self.trace_id:
            lines.append(f"trace id: {self.trace_id}")
        lines.append(f"alert id: {self.alert_id}")
        return "\n".join(lines)

    def event(self) -> AlertEvent:
        return AlertEvent(
            alert_id=self.alert_id, purpose=self.purpose, severity=self.severity,
            category=self.category, source=self.source, message=self.message,
            last_message=self.last_message, dedup_key=self.dedup_key, count=self.count,
            first_seen=self.first_seen, last_seen=self.last_seen, status=self.status,
            context=self.context, trace_id=self.trace_id, text=self.text,
        )


@dataclass(frozen=True, slots=True)
class ChannelResult:
    """A successful hand-over. ``confirmed`` only when a receiver outside this process acked it."""

    confirmed: bool
    detail: str = ""


class ChannelError(Exception):
    """A failed attempt; ``retry_after`` is the receiver's own hint (HTTP 429), in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Channel(abc.ABC):
    """A delivery channel. Subclasses are registered with ``alerts.channels.register_channel``."""

    name: ClassVar[str]
    label: ClassVar[str] = ""

    @abc.abstractmethod
    def configured(self) -> bool:
        """True when the settings this channel needs exist; otherwise it is skipped."""

    @abc.abstractmethod
    def send(self, message: AlertMessage) -> ChannelResult:
        """Deliver now; raise ``ChannelError`` on failure (never log secrets)."""
