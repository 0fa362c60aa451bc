"""Keep the envelope on every ``/api/`` response, including Django's own 404/405/500 pages."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from governance.api.responses import code_for_status, json_error_response
from governance.api.tracing import request_trace_id

_PREFIX = "/api/"


def api_error_envelope(get_response: Callable[[HttpRequest], HttpResponse]
                       ) -> Callable[[HttpRequest], HttpResponse]:
    """Replace non-JSON error responses under ``/api/`` with the envelope; tag the trace id."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if not request.path.startswith(_PREFIX):
            return response
        trace_id = request_trace_id(request)
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and not content_type.startswith("application/json"):
            allow = response.get("Allow")
            message = {404: "no such route", 405: "method not allowed"}.get(
                response.status_code, "request failed")
            response = json_error_response(
                response.status_code, code_for_status(response.status_code), message, trace_id,
                {"allow": allow} if allow else None)
            if allow:
                response["Allow"] = allow
        response["X-Trace-Id"] = trace_id
        return response

    return middleware
