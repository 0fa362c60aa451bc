"""Keep secrets out of logs and of the delivery ledger's error text."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings

MASK = "***"
_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[^\s\"']+"), r"\1" + MASK),
    (re.compile(r"bot\d+:[A-Za-z0-9_-]+"), "bot" + MASK),  # Telegram bot tokens
    (re.compile(r"(?i)(://)[^/\s:@]+:[^/\s@]+@"), r"\1" + MASK + "@"),  # URL userinfo
    (re.compile(r"(?i)((?:password|token|secret|api[_-]?key)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,]+"),
     r"\1" + MASK),
]


def _secret_values() -> list[str]:
    values: list[str] = []
    for name in ("EMAIL_HOST_PASSWORD", "GRAFANA_API_TOKEN", "ALERT_WEBHOOK_CHAT_ID"):
        value = getattr(settings, name, None)
        if value:
            values.append(str(value))
    for name in ("ALERT_WEBHOOK_URL", "GRAFANA_WEBHOOK_URL"):
        url = getattr(settings, name, None)
        if url:
            # The whole URL and its path/query: webhook URLs carry their token in the path.
            parts = urlsplit(str(url))
            values.append(str(url))
            values.extend(p for p in (parts.path, parts.query) if len(p) > 3)
    # Longest first, so a URL is masked whole before its path is.
    return sorted(set(values), key=len, reverse=True)


def redact(text: str, *, limit: int = 1000) -> str:
    """Mask every configured secret and anything shaped like a credential; cap the length."""
    for value in _secret_values():
        text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
