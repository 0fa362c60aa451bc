"""Asking the brain safely: redaction, the prompt, budget, retries and the circuit breaker.

1. ``redact`` masks every configured secret value (settings, ``*_FILE`` secrets, credential-
   looking environment variables, URL passwords) and anything shaped like a credential, and
   drops values under secret-looking keys; ``prompt_build`` then refuses to send a prompt
   that still contains a known secret (``LLM_SECRET_IN_PROMPT``).
2. ``brain_call`` checks the breaker and the daily token/spend ceiling, then tries the
   provider with exponential backoff (honouring ``Retry-After``) on timeouts, 429s and 5xx.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from strategist.contracts import proposal_json_schema
from strategist.models import ProviderBreaker
from strategist.providers import ChatRequest, ChatResponse, LLMProvider, ProviderError
from strategist.providers.base import (
    LLM_BUDGET_EXHAUSTED,
    LLM_CIRCUIT_OPEN,
    LLM_SECRET_IN_PROMPT,
)

logger = logging.getLogger(__name__)

MASK = "[REDACTED]"
_SECRET_NAME = re.compile(r"(?i)(api[_-]?key|secret|token|password|passwd|passphrase|"
                          r"credential|private[_-]?key|authorization|auth[_-]?header)")
_SECRET_SETTINGS = ("STRATEGIST_LLM_API_KEY", "SECRET_KEY", "EMAIL_HOST_PASSWORD",
                    "GRAFANA_API_TOKEN", "ALERT_WEBHOOK_CHAT_ID")
_URL_SETTINGS = ("DATABASE_URL", "REDIS_URL", "NATS_URL", "CELERY_BROKER_URL",
                 "ALERT_WEBHOOK_URL", "GRAFANA_WEBHOOK_URL", "ALERT_NATS_URL",
                 "STRATEGIST_LLM_BASE_URL")
_PATTERNS = (
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\bsk-(?:ant-|proj-|or-)?[A-Za-z0-9_-]{16,}"),
    re.compile(r"\bcio_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}"),
    re.compile(r"\b(?:ghp|gho|github_pat|glsa|xox[abpr])_?[A-Za-z0-9_-]{16,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)(://)[^/\s:@]+:[^/\s@]+@"),
    re.compile(r"(?i)((?:password|passwd|token|secret|api[_-]?key)[\"']?\s*[=:]\s*[\"']?)"
               r"[^\s\"'&,}]+"),
)


def _url_secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [p for p in (parts.password,) if p]
    if parts.username and parts.password:
        found.append(f"{parts.username}:{parts.password}")
    return found


def secret_values() -> list[str]:
    """Every secret this process knows, longest first (so a long one is masked whole)."""
    values: set[str] = set()
    for name in _SECRET_SETTINGS:
        value = getattr(settings, name, None)
        if value:
            values.add(str(value))
    for name in _URL_SETTINGS:
        url = getattr(settings, name, None)
        if url:
            values.update(_url_secrets(str(url)))
    for name, value in os.environ.items():
        if name.endswith("_FILE") and _SECRET_NAME.search(name) and len(value) < 4096:
            try:
                content = Path(value).read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if content:
                values.add(content)
        elif _SECRET_NAME.search(name) and value:
            values.add(value)
    for db in settings.DATABASES.values():
        if db.get("PASSWORD"):
            values.add(str(db["PASSWORD"]))
    # Very short values would mask ordinary words; such secrets are not secrets anyway.
    return sorted((v for v in values if len(v) >= 6), key=len, reverse=True)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    for value in secrets if secrets is not None else secret_values():
        text = text.replace(value, MASK)
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: (m.group(1) or "") + MASK, text)
        else:
            text = pattern.sub(MASK, text)
    return text


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """A deep copy of ``value`` with secrets masked and secret-named keys blanked."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(value, dict):
        return {str(k): (MASK if _SECRET_NAME.search(str(k)) and v not in (None, "", [], {})
                         else redact(v, secrets)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        return redact_text(value, secrets)
    return value


class SecretInPrompt(ProviderError):
    code = LLM_SECRET_IN_PROMPT


SYSTEM_PROMPT = """You are the Strategist of Petrosa CIO, the governance layer of a fleet of \
crypto futures trading bots. Every few minutes you review the market regime, the portfolio's \
health, the gate's recent decisions and the current configuration, and you propose policy \
changes. A deterministic auditor checks your proposal against the parameter catalog, the hard \
safety gates and your agent envelope, and replays it against recent intents before anything \
is applied. The deterministic drawdown ladder (REDUCING at the reduce threshold, HALTED at \
the halt threshold) works without you; never try to undo it.

Rules:
- Answer with ONE JSON object and nothing else, matching this JSON Schema:
{schema}
- Use only parameter names from context.catalog; values must respect their bounds and units.
- Scopes: "global", "symbol:BTCUSDT", "symbol_side:BTCUSDT:LONG", "strategy:<id>".
- Prefer tightening risk when in doubt. Loosening beyond your envelope is not applied: it \
waits for a human.
- Any proposal that changes something needs a thought_trace of at least 100 characters: \
what you observed, why this change, what you expect.
- If nothing should change, return empty "patches" and "state_changes" lists.
"""


@dataclass(frozen=True, slots=True)
class Prompt:
    """What is sent, and its hash (the cycle record keeps both)."""

    request: ChatRequest
    sha256: str
    context: dict[str, Any]


def prompt_build(context: dict[str, Any]) -> Prompt:
    """Redact the context, render the messages, refuse if a known secret survived."""
    secrets = secret_values()
    # Plain JSON values only (Decimals, datetimes as text): what is stored is what is sent.
    clean = json.loads(json.dumps(redact(context, secrets), default=str))
    system = SYSTEM_PROMPT.replace(
        "{schema}", json.dumps(proposal_json_schema(), separators=(",", ":")))
    user = "Context (JSON):\n" + json.dumps(clean, sort_keys=True, default=str,
                                             separators=(",", ":"))
    leaked = [s for s in secrets if s in system or s in user]
    if leaked:
        raise SecretInPrompt("a secret value survived redaction; the prompt was not sent")
    digest = hashlib.sha256((system + "\n\n" + user).encode()).hexdigest()
    request = ChatRequest(system=system, user=user, context=clean,
                          max_tokens=settings.STRATEGIST_LLM_MAX_OUTPUT_TOKENS,
                          temperature=settings.STRATEGIST_LLM_TEMPERATURE)
    return Prompt(request=request, sha256=digest, context=clean)


# --- budget and breaker ---------------------------------------------------------------------


def cost_usd(prompt_tokens: int, completion_tokens: int) -> Decimal:
    usd = (prompt_tokens * settings.STRATEGIST_LLM_USD_PER_1K_INPUT
           + completion_tokens * settings.STRATEGIST_LLM_USD_PER_1K_OUTPUT) / 1000.0
    return Decimal(repr(round(usd, 6)))


def budget_check(request: ChatRequest, *, now: dt.datetime | None = None) -> None:
    """Refuse a call that could cross today's token or spend ceiling."""
    from strategist.selectors import llm_usage_today

    used = llm_usage_today(now=now)
    estimate_in = (len(request.system) + len(request.user)) // 4
    estimate = estimate_in + request.max_tokens
    limit = settings.STRATEGIST_LLM_DAILY_TOKEN_LIMIT
    if limit and used["tokens"] + estimate > limit:
        raise ProviderError(
            f"daily token ceiling: {used['tokens']} used + ~{estimate} for this cycle > "
            f"{limit}", code=LLM_BUDGET_EXHAUSTED)
    spend_limit = settings.STRATEGIST_LLM_DAILY_SPEND_LIMIT_USD
    spend = float(cost_usd(estimate_in, request.max_tokens))
    if spend_limit and used["cost_usd"] + spend > spend_limit:
        raise ProviderError(
            f"daily spend ceiling: ${used['cost_usd']:.4f} used + ~${spend:.4f} > "
            f"${spend_limit:.2f}", code=LLM_BUDGET_EXHAUSTED)


def breaker_check(provider: str, *, now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    row = ProviderBreaker.objects.filter(provider=provider).first()
    if row is not None and row.open_until is not None and row.open_until > now:
        raise ProviderError(f"{provider}: circuit open until {row.open_until.isoformat()} "
                            f"after {row.consecutive_failures} failures",
                            code=LLM_CIRCUIT_OPEN)


def breaker_record(provider: str, *, ok: bool, error: str = "",
                   now: dt.datetime | None = None) -> ProviderBreaker:
    now = now or timezone.now()
    with transaction.atomic():
        row, _ = ProviderBreaker.objects.select_for_update().get_or_create(provider=provider)
        if ok:
            row.consecutive_failures = 0
            row.open_until = None
        else:
            row.consecutive_failures += 1
            row.last_error = error[:1000]
            if row.consecutive_failures >= settings.STRATEGIST_BREAKER_FAILURES:
                row.open_until = now + dt.timedelta(
                    seconds=settings.STRATEGIST_BREAKER_COOLDOWN_S)
        row.save()
    return row


@dataclass(frozen=True, slots=True)
class BrainResult:
    """The answer and how many attempts it took."""

    response: ChatResponse
    attempts: int


class BrainFailure(Exception):
    """Every attempt failed (or none was allowed); ``error`` is the last provider error."""

    def __init__(self, error: ProviderError, attempts: int) -> None:
        super().__init__(error.message)
        self.error = error
        self.attempts = attempts


def brain_call(provider: LLMProvider, request: ChatRequest, *,
               sleep: Callable[[float], None] = time.sleep) -> BrainResult:
    """1. breaker and budget; 2. attempts with backoff; 3. breaker bookkeeping."""
    if provider.remote:
        try:
            breaker_check(provider.name)
            budget_check(request)
        except ProviderError as exc:
            raise BrainFailure(exc, 0) from None
    attempts = 0
    retries = settings.STRATEGIST_LLM_MAX_RETRIES
    while True:
        attempts += 1
        try:
            response = provider.complete(request, timeout=settings.STRATEGIST_LLM_TIMEOUT_S)
        except ProviderError as exc:
            if exc.retryable and attempts <= retries:
                wait = min(settings.STRATEGIST_LLM_BACKOFF_MAX_S,
                           settings.STRATEGIST_LLM_BACKOFF_BASE_S * 2 ** (attempts - 1))
                if exc.retry_after is not None:
                    if exc.retry_after > settings.STRATEGIST_LLM_BACKOFF_MAX_S:
                        _fail(provider, exc)
                        raise BrainFailure(exc, attempts) from None
                    wait = max(wait, exc.retry_after)
                logger.warning("%s attempt %d failed (%s); retrying in %.2f s", provider.name,
                               attempts, exc.code, wait)
                sleep(wait if math.isfinite(wait) else 0.0)
                continue
            _fail(provider, exc)
            raise BrainFailure(exc, attempts) from None
        if provider.remote:
            breaker_record(provider.name, ok=True)
        return BrainResult(response=response, attempts=attempts)


def _fail(provider: LLMProvider, exc: ProviderError) -> None:
    if provider.remote:
        breaker_record(provider.name, ok=False, error=f"{exc.code}: {exc.message}")
