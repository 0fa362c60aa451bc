"""A generic chat webhook: Slack-compatible ``{"text"}`` or Telegram ``sendMessage``, escaped."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings

from alerts.channels.base import AlertMessage, Channel, ChannelError, ChannelResult
from alerts.channels.http import http_post

MAX_CHAT_TEXT = 3500  # Telegram caps a message at 4096 characters


def slack_escape(text: str) -> str:
    """Slack (and Mattermost) mrkdwn: only &, < and > are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _trim(text: str) -> str:
    return text if len(text) <= MAX_CHAT_TEXT else text[: MAX_CHAT_TEXT - 1] + "…"


def _slack(message: AlertMessage) -> dict[str, Any]:
    return {"text": slack_escape(_trim(message.text))}


def _telegram(message: AlertMessage) -> dict[str, Any]:
    body = html.escape(_trim(message.text), quote=False)
    title, _, rest = body.partition("\n")
    return {
        "chat_id": settings.ALERT_WEBHOOK_CHAT_ID,
        "text": f"<b>{title}</b>\n{rest}",
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }


def _json(message: AlertMessage) -> dict[str, Any]:
    event: dict[str, Any] = message.event().model_dump(mode="json")
    return event


FORMATS: dict[str, Callable[[AlertMessage], dict[str, Any]]] = {
    "slack": _slack,
    "telegram": _telegram,
    "json": _json,
}


def webhook_format() -> str:
    """The configured format; ``auto`` picks Telegram for api.telegram.org and Slack otherwise."""
    fmt = str(settings.ALERT_WEBHOOK_FORMAT)
    if fmt == "auto":
        return "telegram" if "api.telegram.org" in str(settings.ALERT_WEBHOOK_URL or "") \
            else "slack"
    return fmt


class WebhookChannel(Channel):
    """POST to ``ALERT_WEBHOOK_URL``; confirmed by a 2xx (and Telegram's ``"ok": true``)."""

    name: ClassVar[str] = "webhook"
    label: ClassVar[str] = "Chat webhook (Slack/Telegram)"

    def configured(self) -> bool:
        return bool(settings.ALERT_WEBHOOK_URL)

    def send(self, message: AlertMessage) -> ChannelResult:
        fmt = webhook_format()
        response = http_post(str(settings.ALERT_WEBHOOK_URL), json_body=FORMATS[fmt](message))
        if fmt == "telegram":
            try:
                ok = bool(response.json().get("ok"))
            except (ValueError, AttributeError):
                ok = False
            if not ok:
                raise ChannelError("Telegram answered without ok=true")
        return ChannelResult(confirmed=True, detail=f"{fmt} HTTP {response.status_code}")
