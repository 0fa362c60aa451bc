"""The built-in channels, registered explicitly from ``AlertsConfig.ready``."""

from __future__ import annotations

from alerts.channels import register_channel
from alerts.channels.email import EmailChannel
from alerts.channels.grafana import GrafanaAnnotationChannel, GrafanaWebhookChannel
from alerts.channels.nats import NatsChannel
from alerts.channels.otel import OtelChannel
from alerts.channels.webhook import WebhookChannel


def register_builtin_channels() -> None:
    for channel in (EmailChannel(), GrafanaAnnotationChannel(), GrafanaWebhookChannel(),
                    WebhookChannel(), NatsChannel(), OtelChannel()):
        register_channel(channel)
