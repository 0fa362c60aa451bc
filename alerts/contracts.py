"""Wire models of the alerts app: what callers hand to ``alert_raise`` and what leaves us."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_MESSAGE = 4000
MAX_CONTEXT_BYTES = 16_384

SeverityName = Literal["info", "warning", "critical"]


class AlertIn(BaseModel):
    """A raise request; the message is trimmed rather than refused so no alert is lost to length."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    severity: SeverityName
    # Lower-case token: it becomes part of the NATS subject ``cio.alerts.<severity>.<category>``.
    category: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    source: str = Field(min_length=1, max_length=128)
    message: str = Field(min_length=1)
    dedup_key: str = Field(default="", max_length=200)
    context: dict[str, Any] = Field(default_factory=dict)
    trace_id: str = Field(default="", pattern=r"^([0-9a-f]{32})?$")

    @field_validator("message")
    @classmethod
    def _trim(cls, value: str) -> str:
        return value if len(value) <= MAX_MESSAGE else value[: MAX_MESSAGE - 1] + "…"

    @field_validator("context")
    @classmethod
    def _jsonable(cls, value: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(value, default=str, sort_keys=True)
        if len(text) > MAX_CONTEXT_BYTES:
            return {"truncated": True, "preview": text[:2000]}
        clean: dict[str, Any] = json.loads(text)
        return clean


class AlertEvent(BaseModel):
    """The alert as published on NATS (``cio.alerts.<severity>.<category>``) and JSON webhooks."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    alert_id: str
    purpose: Literal["raise", "summary", "resolved"]
    severity: SeverityName
    category: str
    source: str
    message: str
    last_message: str = ""
    dedup_key: str
    count: int = Field(ge=1)
    first_seen: dt.datetime
    last_seen: dt.datetime
    status: str
    context: dict[str, Any] = Field(default_factory=dict)
    trace_id: str = ""
    text: str
