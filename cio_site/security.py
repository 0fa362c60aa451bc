"""Content-Security-Policy for every HTML page (Django 5.2 has no built-in CSP).

The default policy allows only this origin's scripts, styles, images, fonts and
connections (websockets included: CSP Level 3 ``'self'`` covers ``wss:`` to the same host),
no plugins, no framing, no foreign form targets. Inline ``<style>`` is allowed (the admin
and the reports use it; it cannot run code); inline ``<script>`` needs the per-request nonce:

    <script nonce="{{ request.csp_nonce }}">...</script>

A view that needs another policy sets the header itself (the middleware never overwrites
one) or uses ``@csp_exempt`` for pages that are not HTML. ``CIO_CSP`` replaces the policy
(``{nonce}`` is substituted); ``CIO_CSP_REPORT_ONLY=true`` sends it as
``Content-Security-Policy-Report-Only`` to try a stricter policy without breaking pages.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, Final, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse

DEFAULT_CSP: Final = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# JSON API answers and metrics carry a locked-down policy: nothing in them may run.
API_CSP: Final = "default-src 'none'; frame-ancestors 'none'"

ViewT = TypeVar("ViewT", bound=Callable[..., Any])


def csp_exempt(view: ViewT) -> ViewT:
    """Send no CSP header for this view (a file download, a redirect-only view)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        response = view(*args, **kwargs)
        response.csp_exempt = True
        return response

    return wrapped  # type: ignore[return-value]


class ContentSecurityPolicyMiddleware:
    """Adds the CSP header (with a fresh nonce) to every response that has none."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy: str = getattr(settings, "CIO_CSP", "") or DEFAULT_CSP
        self.header = ("Content-Security-Policy-Report-Only"
                       if getattr(settings, "CIO_CSP_REPORT_ONLY", False)
                       else "Content-Security-Policy")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = secrets.token_urlsafe(16)
        request.csp_nonce = nonce  # type: ignore[attr-defined]
        response = self.get_response(request)
        if getattr(response, "csp_exempt", False) or self.header in response \
                or "Content-Security-Policy" in response:
            return response
        content_type = response.get("Content-Type", "")
        if content_type.startswith("text/html"):
            response[self.header] = self.policy.replace("{nonce}", nonce)
        else:
            response[self.header] = API_CSP
        return response


def client_ip(request: HttpRequest) -> str:
    """The client address for login throttling (``AXES_CLIENT_IP_CALLABLE``).

    ``REMOTE_ADDR`` unless ``CIO_PROXY_COUNT`` proxies (the ingress) sit in front: then the
    address that many hops from the right of ``X-Forwarded-For``, the last one a trusted
    proxy appended. Left-most entries are whatever the client sent and are never trusted."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    hops = int(getattr(settings, "CIO_PROXY_COUNT", 0) or 0)
    if hops <= 0:
        return remote
    chain = [part.strip() for part in
             str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",") if part.strip()]
    if len(chain) >= hops:
        return chain[-hops]
    return remote
