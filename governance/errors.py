"""Typed errors with stable codes shared by every door (admin, API, MCP, NATS)."""

from __future__ import annotations

from typing import Any


class CioError(Exception):
    """Base for every domain error: a stable ``code``, a human message and details."""

    code: str = "INTERNAL_ERROR"
    http_status: int = 400

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details = details if details is not None else {}

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ValidationFailed(CioError):
    """Input does not satisfy a contract; ``details`` lists every problem found."""

    code = "VALIDATION_ERROR"
    http_status = 422


class NotFound(CioError):
    code = "NOT_FOUND"
    http_status = 404


class Conflict(CioError):
    code = "CONFLICT"
    http_status = 409


class StaleVersion(Conflict):
    """A write named a base version that is no longer the current one."""

    code = "STALE_VERSION"


class PermissionDenied(CioError):
    code = "PERMISSION_DENIED"
    http_status = 403


class HardGateViolation(CioError):
    """A value lies outside the primal safety limits that no agent or API can loosen."""

    code = "HARD_GATE_VIOLATION"
    http_status = 422
