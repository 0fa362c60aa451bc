"""One HTTP POST helper for the HTTP channels: timeouts, 429 hints and redacted errors."""

from __future__ import annotations

from typing import Any

import httpx
from django.conf import settings

from alerts.channels.base import ChannelError
from alerts.redact import redact


def _retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            return None
    try:
        body = response.json()
    except ValueError:
        return None
    # Telegram: {"ok": false, "parameters": {"retry_after": 7}}
    params = body.get("parameters") if isinstance(body, dict) else None
    if isinstance(params, dict) and isinstance(params.get("retry_after"), int | float):
        return float(params["retry_after"])
    return None


def http_post(url: str, *, json_body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST and return a 2xx response; anything else raises ``ChannelError`` without secrets."""
    try:
        response = httpx.post(url, json=json_body, headers=headers or {},
                              timeout=settings.ALERT_HTTP_TIMEOUT_S, follow_redirects=False)
    except httpx.HTTPError as exc:
        # httpx messages may quote the URL, and webhook URLs carry tokens.
        raise ChannelError(redact(f"{type(exc).__name__}: {exc}")) from None
    if response.status_code == 429:
        raise ChannelError("HTTP 429 rate limited by the receiver",
                           retry_after=_retry_after(response))
    if not 200 <= response.status_code < 300:
        raise ChannelError(redact(f"HTTP {response.status_code}: {response.text[:200]}"),
                           retry_after=_retry_after(response) if response.status_code == 503
                           else None)
    return response
