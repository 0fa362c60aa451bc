"""The governance HTTP API (django-ninja), mounted at ``/api/v1/``.

Every response is the envelope ``{success, data, trace_id, error}``; every exception maps to
it with a stable code (``governance.api.responses``). Liveness and readiness are the only
anonymous routes.
"""

from __future__ import annotations

from typing import Any

import pydantic
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError

from governance.api import ops  # noqa: F401  (registers the operations)
from governance.api.health import router as health_router
from governance.api.responses import error_response
from governance.api.routes import router
from governance.api.security import AUTH, docs_guard
from governance.errors import CioError

api = NinjaAPI(
    title="Petrosa CIO governance API",
    version="1",
    description=(
        "Configuration (mirroring the trade engine's config routes), trading state, gate "
        "decisions and agent approvals. Authenticate with `Authorization: Bearer <token>` "
        "(`manage.py create_api_token`) or a TOTP-verified staff session. Every response is "
        "`{success, data, trace_id, error:{code, message, details}}`."
    ),
    urls_namespace="api-v1",
    auth=AUTH,
    docs_url="/docs",
    docs_decorator=docs_guard,
)


def _handle(request: HttpRequest, exc: Any) -> HttpResponse:
    return error_response(request, exc)


# Ninja picks the handler of the most specific class: register ours for each of its own.
for _exc in (Exception, Http404, HttpError, NinjaValidationError, pydantic.ValidationError,
             CioError):
    api.add_exception_handler(_exc, _handle)
api.add_router("/", router)
api.add_router("/health", health_router)

__all__: list[Any] = ["api"]
