"""Trace ids: taken from a W3C ``traceparent`` header when there is one, else generated."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO = "0" * 32


def trace_id_from_traceparent(value: str | None) -> str | None:
    """The 32-hex trace id of a valid ``traceparent``, or None (version ff and zero ids are
    invalid per the W3C spec)."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None or match.group(1) == "ff" or match.group(2) == _ZERO:
        return None
    return match.group(2)


def new_trace_id() -> str:
    return uuid.uuid4().hex


def trace_id_from_headers(headers: Mapping[str, Any]) -> str:
    """Trace id for a request with these (case-insensitive) headers."""
    return trace_id_from_traceparent(headers.get("traceparent")) or new_trace_id()


def request_trace_id(request: Any) -> str:
    """The trace id of a Django request, computed once and kept on the request."""
    cached = getattr(request, "cio_trace_id", None)
    if isinstance(cached, str):
        return cached
    trace_id = trace_id_from_headers(request.headers)
    request.cio_trace_id = trace_id
    return trace_id
