"""The provider interface, its errors (stable codes) and the shared HTTP helpers."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

# Brain failure codes; every one leaves the policy untouched and raises an alert.
LLM_TIMEOUT = "LLM_TIMEOUT"
LLM_RATE_LIMITED = "LLM_RATE_LIMITED"
LLM_UNAVAILABLE = "LLM_UNAVAILABLE"
LLM_AUTH_FAILED = "LLM_AUTH_FAILED"
LLM_QUOTA_EXHAUSTED = "LLM_QUOTA_EXHAUSTED"
LLM_BAD_RESPONSE = "LLM_BAD_RESPONSE"
LLM_BUDGET_EXHAUSTED = "LLM_BUDGET_EXHAUSTED"
LLM_CIRCUIT_OPEN = "LLM_CIRCUIT_OPEN"
LLM_NOT_CONFIGURED = "LLM_NOT_CONFIGURED"
LLM_SECRET_IN_PROMPT = "LLM_SECRET_IN_PROMPT"  # noqa: S105  (an error code)


class ProviderError(Exception):
    """A provider call failed; ``retryable`` errors are retried with backoff."""

    code = LLM_UNAVAILABLE
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    code = LLM_TIMEOUT
    retryable = True


class ProviderRateLimited(ProviderError):
    code = LLM_RATE_LIMITED
    retryable = True


class ProviderUnavailable(ProviderError):
    code = LLM_UNAVAILABLE
    retryable = True


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One policy question: the system rules, the (redacted) context as text and as data."""

    system: str
    user: str
    context: dict[str, Any] = field(default_factory=dict)
    max_tokens: int = 2000
    temperature: float = 0.0


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """The model's text answer and what it cost."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LLMProvider(Protocol):
    """One attempt per call; retries, budget and the breaker live in ``strategist.brain``."""

    name: str
    model: str
    remote: bool

    def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse: ...


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """``Retry-After`` as seconds (delta or HTTP date), or None."""
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(when.timestamp()) - time.time())


def _error_text(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"{error.get('type') or error.get('code') or ''}: {error.get('message', '')}"[:300]
    return str(body)[:300]


_QUOTA_MARKERS = ("insufficient_quota", "quota", "credit balance", "billing",
                  "insufficient credits", "tokens exhausted")


def raise_for_status(resp: httpx.Response, provider: str) -> None:
    """Map an HTTP error answer onto a ``ProviderError`` with a stable code."""
    if resp.status_code < 400:
        return
    text = _error_text(resp)
    lowered = text.lower()
    status = resp.status_code
    if status == 402 or (status in (400, 403, 429) and any(m in lowered
                                                           for m in _QUOTA_MARKERS)):
        raise ProviderError(f"{provider}: quota or credit exhausted ({status}) {text}",
                            code=LLM_QUOTA_EXHAUSTED, status=status)
    if status == 429:
        raise ProviderRateLimited(f"{provider}: rate limited (429) {text}", status=status,
                                  retry_after=retry_after_seconds(resp.headers))
    if status in (401, 403):
        raise ProviderError(f"{provider}: authentication refused ({status})",
                            code=LLM_AUTH_FAILED, status=status)
    if status >= 500 or status in (408, 409):
        raise ProviderUnavailable(f"{provider}: server error ({status}) {text}", status=status,
                                  retry_after=retry_after_seconds(resp.headers))
    raise ProviderError(f"{provider}: request refused ({status}) {text}",
                        code=LLM_BAD_RESPONSE, status=status)


def post_json(client: httpx.Client, url: str, *, body: dict[str, Any],
              headers: dict[str, str], timeout: float, provider: str) -> dict[str, Any]:
    """POST one JSON request; transport failures become retryable provider errors."""
    try:
        resp = client.post(url, json=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(f"{provider}: no answer within {timeout:.1f} s "
                              f"({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise ProviderUnavailable(f"{provider}: transport error ({type(exc).__name__})") \
            from None
    raise_for_status(resp, provider)
    try:
        data = resp.json()
    except ValueError:
        raise ProviderError(f"{provider}: the answer is not JSON", code=LLM_BAD_RESPONSE,
                            status=resp.status_code) from None
    if not isinstance(data, dict):
        raise ProviderError(f"{provider}: unexpected answer shape", code=LLM_BAD_RESPONSE)
    return data
