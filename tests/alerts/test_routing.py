"""Routing rules: critical to every channel; info/warning as the admin's rules say."""

from __future__ import annotations

import pytest

from alerts.channels import channel_names
from alerts.models import AlertRoute
from alerts.services import alert_raise, alert_route_channels
from governance.errors import ValidationFailed

pytestmark = pytest.mark.django_db


def test_without_rules_every_channel_is_used() -> None:
    assert alert_route_channels(severity="info", category="canary") == channel_names()


def test_rules_pick_channels_for_lower_severities_only() -> None:
    AlertRoute.objects.create(name="llm to chat", severity="warning", category_pattern="llm*",
                              channels=["webhook", "otel"])
    AlertRoute.objects.create(name="all info to grafana", severity="info",
                              channels=["grafana"])
    AlertRoute.objects.create(name="disabled", enabled=False, channels=["email"])
    assert alert_route_channels(severity="warning", category="llm_quota") == ["webhook", "otel"]
    assert alert_route_channels(severity="info", category="llm") == ["grafana"]
    # Nothing matches: every channel (a missing rule never silences an alert).
    assert alert_route_channels(severity="warning", category="canary") == channel_names()
    assert alert_route_channels(severity="critical", category="llm") == channel_names()
    alert = alert_raise(severity="warning", category="llm", source="s", message="m")
    assert sorted(alert.deliveries.values_list("channel", flat=True)) == ["otel", "webhook"]


def test_rules_naming_only_unknown_channels_fall_back_to_all() -> None:
    AlertRoute.objects.create(name="gone", channels=["pager"])
    assert alert_route_channels(severity="info", category="x") == channel_names()


def test_explicit_channels_must_exist() -> None:
    with pytest.raises(ValidationFailed) as info:
        alert_raise(severity="info", category="test", source="s", message="m",
                    channels=["pager"])
    assert info.value.code == "ALERT_CHANNEL_UNKNOWN"
