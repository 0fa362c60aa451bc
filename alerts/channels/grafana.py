"""Grafana: an annotation through the HTTP API and, optionally, a contact-point webhook."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings

from alerts.channels.base import AlertMessage, Channel, ChannelResult
from alerts.channels.http import http_post


def _ms(message: AlertMessage, *, end: bool = False) -> int:
    return int((message.last_seen if end else message.first_seen).timestamp() * 1000)


class GrafanaAnnotationChannel(Channel):
    """``POST {GRAFANA_URL}/api/annotations`` with a bearer token; confirmed by a 2xx answer."""

    name: ClassVar[str] = "grafana"
    label: ClassVar[str] = "Grafana annotation"

    def configured(self) -> bool:
        return bool(settings.GRAFANA_URL and settings.GRAFANA_API_TOKEN)

    def body(self, message: AlertMessage) -> dict[str, Any]:
        body: dict[str, Any] = {
            "time": _ms(message),
            "tags": ["petrosa-cio", message.severity, message.category],
            "text": message.text,
        }
        if message.purpose == "summary":
            body["timeEnd"] = _ms(message, end=True)  # a region covering the storm
        return body

    def send(self, message: AlertMessage) -> ChannelResult:
        response = http_post(
            f"{str(settings.GRAFANA_URL).rstrip('/')}/api/annotations",
            json_body=self.body(message),
            headers={"Authorization": f"Bearer {settings.GRAFANA_API_TOKEN}"},
        )
        try:
            annotation_id = response.json().get("id", "")
        except (ValueError, AttributeError):
            annotation_id = ""
        return ChannelResult(confirmed=True, detail=f"annotation {annotation_id}".strip())


class GrafanaWebhookChannel(Channel):
    """Alertmanager-shaped POST to a Grafana IRM/OnCall webhook integration URL."""

    name: ClassVar[str] = "grafana_webhook"
    label: ClassVar[str] = "Grafana contact-point webhook"

    def configured(self) -> bool:
        return bool(settings.GRAFANA_WEBHOOK_URL)

    def body(self, message: AlertMessage) -> dict[str, Any]:
        status = "resolved" if message.purpose == "resolved" else "firing"
        labels = {"alertname": message.category, "severity": message.severity,
                  "source": message.source, "service": "petrosa-cio"}
        return {
            "receiver": "petrosa-cio",
            "status": status,
            "groupKey": message.dedup_key,
            "groupLabels": {"alertname": message.category},
            "commonLabels": labels,
            "commonAnnotations": {"summary": message.title},
            "alerts": [{
                "status": status,
                "labels": labels,
                "annotations": {"summary": message.title, "description": message.text},
                "startsAt": message.first_seen.isoformat(),
                "endsAt": message.last_seen.isoformat() if status == "resolved" else "",
                "fingerprint": message.delivery_key,
            }],
            "version": "4",
        }

    def send(self, message: AlertMessage) -> ChannelResult:
        response = http_post(str(settings.GRAFANA_WEBHOOK_URL), json_body=self.body(message))
        return ChannelResult(confirmed=True, detail=f"HTTP {response.status_code}")
