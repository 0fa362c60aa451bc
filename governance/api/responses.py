"""The standard envelope on every API response, and the mapping of every error to it."""

from __future__ import annotations

import json
import logging
from typing import Any

import pydantic
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from governance.api.tracing import request_trace_id
from governance.errors import CioError

logger = logging.getLogger(__name__)

ERROR_STATUSES = frozenset({400, 401, 403, 404, 409, 422, 429})
_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "UNAVAILABLE",
}


def ok(data: Any, trace_id: str) -> dict[str, Any]:
    return {"success": True, "data": data, "trace_id": trace_id, "error": None}


def failure(code: str, message: str, trace_id: str, details: Any = None) -> dict[str, Any]:
    return {"success": False, "data": None, "trace_id": trace_id,
            "error": {"code": code, "message": message,
                      "details": details if details is not None else {}}}


def code_for_status(status: int) -> str:
    return _HTTP_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")


def json_error_response(status: int, code: str, message: str, trace_id: str,
                        details: Any = None) -> HttpResponse:
    body = json.dumps(failure(code, message, trace_id, details), default=str)
    response = HttpResponse(body, status=status, content_type="application/json")
    response["X-Trace-Id"] = trace_id
    if isinstance(details, dict) and isinstance(details.get("retry_after"), int):
        response["Retry-After"] = str(details["retry_after"])
    return response


def pydantic_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic/ninja errors without the echoed input (it may be large or sensitive)."""
    out = []
    for err in errors:
        if isinstance(err, dict):
            out.append({"loc": [str(p) for p in err.get("loc", ())],
                        "message": str(err.get("msg", "")), "type": str(err.get("type", ""))})
    return out


def error_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Map any exception to the envelope with a stable code and the right status."""
    trace_id = request_trace_id(request)
    if isinstance(exc, CioError):
        return json_error_response(exc.http_status, exc.code, exc.message, trace_id, exc.details)
    if isinstance(exc, NinjaValidationError):
        return json_error_response(422, "VALIDATION_ERROR", "the request does not match the "
                                   "schema", trace_id, {"errors": pydantic_errors(exc.errors)})
    if isinstance(exc, pydantic.ValidationError):
        return json_error_response(422, "VALIDATION_ERROR", "the request does not match the "
                                   "schema", trace_id, {"errors": pydantic_errors(exc.errors())})
    if isinstance(exc, AuthenticationError):
        response = json_error_response(401, "UNAUTHENTICATED", "send Authorization: Bearer "
                                       "<token> (or use a verified staff session)", trace_id)
        response["WWW-Authenticate"] = 'Bearer realm="petrosa-cio"'
        return response
    if isinstance(exc, AuthorizationError):
        return json_error_response(403, "PERMISSION_DENIED", str(exc), trace_id)
    if isinstance(exc, HttpError):
        code = code_for_status(exc.status_code)
        if exc.status_code == 403 and "csrf" in str(exc).lower():
            code = "CSRF_FAILED"
        return json_error_response(exc.status_code, code, str(exc), trace_id)
    if isinstance(exc, Http404):
        return json_error_response(404, "NOT_FOUND", "no such resource", trace_id)
    if isinstance(exc, DataError):
        # Input the database cannot store (out-of-range number or date, bad characters).
        logger.warning("database refused the input (trace %s): %s", trace_id, exc)
        return json_error_response(422, "INVALID_DATA", "the database cannot store this input",
                                   trace_id)
    logger.exception("unhandled API error (trace %s)", trace_id)
    return json_error_response(500, "INTERNAL_ERROR", "internal error; quote the trace_id",
                               trace_id)
