"""Keep secrets out of logs, traces, error text and anything sent to an LLM.

Two layers, applied together by ``redact``:

1. Known values: every configured secret (Django settings such as ``SECRET_KEY``,
   ``EMAIL_HOST_PASSWORD``, ``STRATEGIST_LLM_API_KEY``, passwords inside ``DATABASE_URL`` /
   ``REDIS_URL`` / ``NATS_URL``, webhook URLs), every environment variable whose name says
   it is a secret (``*_KEY``, ``*_SECRET``, ``*_TOKEN``, ``*_PASSWORD``...), the contents of
   the files their ``*_FILE`` variants point at (Kubernetes secret mounts), and values a
   component registers at run time (``secret_register``).
2. Shapes: anything that looks like a credential even when nobody configured it: bearer
   headers, our API tokens (``cio_<prefix>_<secret>``), URL user-info, ``key=value`` pairs
   whose key says secret, JWTs, PEM private keys, and the well-known provider key formats
   (OpenAI/Anthropic ``sk-``, GitHub, Slack, AWS access keys, Telegram bot tokens).

``redact_data`` walks dicts/lists (JSON-like payloads, log extras, LLM prompts) and also
masks the value of any key whose name says secret. Trace ids, hashes and decision ids are
left alone: no rule matches bare hex.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

MASK: Final = "***"
# Values shorter than this are never treated as secrets by value (they would mask ordinary
# words); the shape patterns still catch short ones in key=value form.
MIN_SECRET_LEN: Final = 6

_SECRET_NAME = re.compile(
    r"(?i)(pass(word|phrase|wd)?|secret|token|api[_-]?key|apikey|private[_-]?key|"
    r"access[_-]?key|signature|credential|authorization|cookie|session[_-]?id|dsn)"
)
# Environment variables that are never secrets although their names match the pattern.
_NOT_SECRET_ENV: Final = frozenset({
    "CIO_API_TOKEN_TOUCH_S", "OTEL_EXPORTER_OTLP_CERTIFICATE", "PYTHONDONTWRITEBYTECODE",
})
# Settings that hold a secret (a value) or a URL that may carry one (user-info, path token).
_SECRET_SETTINGS: Final = (
    "SECRET_KEY", "EMAIL_HOST_PASSWORD", "GRAFANA_API_TOKEN", "STRATEGIST_LLM_API_KEY",
    "ALERT_WEBHOOK_CHAT_ID", "CIO_METRICS_TOKEN",
)
_URL_SETTINGS: Final = (
    "DATABASE_URL", "REDIS_URL", "NATS_URL", "CELERY_BROKER_URL", "ALERT_NATS_URL",
    "ALERT_WEBHOOK_URL", "GRAFANA_WEBHOOK_URL",
)

# The key may have a prefix (``db_password``, ``X-Api-Key``) and a short suffix
# (``secret_key``, ``token_b64``), but not any suffix: ``tokens_used=1200`` is no secret.
_KV_KEY = (r"(?:[A-Za-z0-9_.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|"
           r"private[_-]?key|access[_-]?key|signature|credentials?)(?:[_-]?(?:key|value|b64|hex))?)")
_PATTERNS: Final[list[tuple[re.Pattern[str], str]]] = [
    # PEM private keys, whole block.
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
                re.S), MASK),
    # Authorization headers and bearer / basic credentials.
    (re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=:-]{8,}"), r"\1\2" + MASK),
    (re.compile(r"\b(Basic)(\s+)(?=[A-Za-z]*[0-9+/=])[A-Za-z0-9+/]{12,}={0,2}"), r"\1\2" + MASK),
    # Our own API tokens: keep the public prefix (it identifies the row), mask the secret.
    (re.compile(r"\b(cio_[0-9a-f]{12}_)[A-Za-z0-9_-]{20,128}"), r"\1" + MASK),
    # JWTs (three base64url segments, the first two JSON objects).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MASK),
    # Provider key formats.
    (re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}"), MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), MASK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), MASK),
    (re.compile(r"\bbot\d{5,}:[A-Za-z0-9_-]{20,}"), "bot" + MASK),
    # URL user-info: scheme://user:password@host
    (re.compile(r"(?i)(://)[^/\s:@]+:[^/\s@]+@"), r"\1" + MASK + "@"),
    # key=value, key: value, "key": "value" where the key says secret.
    (re.compile(r"(?i)(\b" + _KV_KEY + r"[\"']?\s*[=:]\s*[\"']?)(?!\*\*\*)[^\s\"'&,;}]+"),
     r"\1" + MASK),
]

_lock = threading.Lock()
_registered: set[str] = set()
_env_cache: tuple[str, ...] | None = None


def secret_register(*values: str | None) -> None:
    """Add values (a key fetched at run time, a token minted now) to the redaction list."""
    with _lock:
        for value in values:
            if value and len(value) >= MIN_SECRET_LEN:
                _registered.add(value)


def secret_values_reset() -> None:
    """Forget the cached environment secrets (tests that plant new ones call this)."""
    global _env_cache
    with _lock:
        _env_cache = None


def is_secret_name(name: str) -> bool:
    """True when a variable, setting or mapping key name says it holds a secret."""
    return bool(_SECRET_NAME.search(name)) and name.upper() not in _NOT_SECRET_ENV


def _url_parts(url: str) -> list[str]:
    """The secret-bearing pieces of a URL: its password, and (for webhooks) path and query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = []
    if parts.password:
        found.append(parts.password)
    return found


def _env_values() -> tuple[str, ...]:
    global _env_cache
    with _lock:
        if _env_cache is not None:
            return _env_cache
    values: list[str] = []
    for name, value in os.environ.items():
        if name.endswith("_FILE") and is_secret_name(name[:-5]) and value:
            try:
                content = Path(value).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                continue
            values.append(content)
        elif is_secret_name(name) and not name.endswith("_FILE"):
            values.append(value)
        elif name.endswith("_URL") and "@" in value:
            values.extend(_url_parts(value))
        elif name.startswith("OTEL_") and name.endswith("_HEADERS"):
            # k=v,k2=v2: collector credentials (e.g. Authorization=Basic ...).
            values.extend(part.partition("=")[2].strip() for part in value.split(","))
    cleaned = tuple(v for v in values if len(v) >= MIN_SECRET_LEN)
    with _lock:
        _env_cache = cleaned
    return cleaned


def _settings_values() -> list[str]:
    try:
        from django.conf import settings

        if not settings.configured:
            return []
        values = [str(getattr(settings, name, "") or "") for name in _SECRET_SETTINGS]
        for name in _URL_SETTINGS:
            url = str(getattr(settings, name, "") or "")
            if not url:
                continue
            values.extend(_url_parts(url))
            if name in ("ALERT_WEBHOOK_URL", "GRAFANA_WEBHOOK_URL"):
                # Webhook URLs carry their token in the path: the whole URL and its path.
                parts = urlsplit(url)
                values.append(url)
                values.extend(p for p in (parts.path, parts.query) if len(p) > 3)
        return values
    except Exception:  # redaction must never fail because settings are half configured
        return []


def secret_values(extra: Iterable[str] = ()) -> list[str]:
    """Every known secret value, longest first (so a URL is masked before its path)."""
    with _lock:
        registered = list(_registered)
    values = {v for v in (*_env_values(), *_settings_values(), *registered, *extra)
              if v and len(v) >= MIN_SECRET_LEN}
    return sorted(values, key=len, reverse=True)


def redact(text: str, *, limit: int | None = None, extra: Iterable[str] = ()) -> str:
    """Mask every known secret and anything shaped like a credential; optionally cap length."""
    if not text:
        return text
    for value in secret_values(extra):
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def redact_data(value: Any, *, extra: Iterable[str] = (), _depth: int = 0) -> Any:
    """A copy of a JSON-like value with secrets masked: strings redacted, and the values of
    keys named like secrets replaced whole (``{"api_key": "..."}`` -> ``"***"``)."""
    extras = tuple(extra)
    if _depth > 32:
        return MASK  # pathological nesting: refuse rather than recurse forever
    if isinstance(value, str):
        return redact(value, extra=extras)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and is_secret_name(key) and item not in (None, "", [], {}):
                out[key] = MASK
            else:
                out[key] = redact_data(item, extra=extras, _depth=_depth + 1)
        return out
    if isinstance(value, list | tuple):
        items = [redact_data(item, extra=extras, _depth=_depth + 1) for item in value]
        return items if isinstance(value, list) else tuple(items)
    return value
