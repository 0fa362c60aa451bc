"""The standard reply envelope of every request/reply door (NATS, API, MCP)."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, JsonValue, model_validator

from governance.errors import CioError
from nurse.contracts._common import FrozenModel, NonEmptyStr


class ErrorBody(FrozenModel):
    """``CioError.as_dict()`` on the wire."""

    code: NonEmptyStr
    message: str
    details: JsonValue = Field(default_factory=dict)


class Envelope(FrozenModel):
    """``{success, data, trace_id, error}``: exactly one of data-success or error is set."""

    success: bool
    data: JsonValue = None
    trace_id: str | None = None
    error: ErrorBody | None = None

    @model_validator(mode="after")
    def _error_iff_failure(self) -> Self:
        if self.success == (self.error is not None):
            raise ValueError("error must be set exactly when success is false")
        return self


def envelope_ok(data: Any, trace_id: str | None = None) -> Envelope:
    """A success reply; ``data`` must be JSON-representable."""
    return Envelope(success=True, data=data, trace_id=trace_id)


def envelope_error(
    code: str, message: str, details: Any = None, trace_id: str | None = None
) -> Envelope:
    """A failure reply carrying a stable error code."""
    body = ErrorBody(code=code, message=message, details=details if details is not None else {})
    return Envelope(success=False, error=body, trace_id=trace_id)


def envelope_from_error(exc: CioError, trace_id: str | None = None) -> Envelope:
    """A failure reply for a domain error (``IntentRejected`` included)."""
    return envelope_error(exc.code, exc.message, exc.details, trace_id)
