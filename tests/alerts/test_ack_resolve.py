"""Acknowledging and resolving, through the services and through the admin; the banner."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp

from alerts.delivery import alert_deliver_pending
from alerts.models import Alert, AlertDelivery, AlertRoute, AlertStatus
from alerts.selectors import alerts_health, alerts_open
from alerts.services import alert_acknowledge, alert_raise, alert_resolve, alert_resolve_key
from governance.models import ActorKind, AuditEvent
from governance.operators import operator_upsert
from tests.alerts.servers import HttpSink, free_port

pytestmark = pytest.mark.django_db

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"
PASSWORD = "correct horse battery staple"


def _down(settings: Any) -> None:
    settings.ALERT_NATS_URL = f"nats://127.0.0.1:{free_port()}"


def _raise(**kw: Any) -> Alert:
    fields: dict[str, Any] = {"severity": "critical", "category": "infra", "source": "nats",
                              "message": "nats is unreachable", "dedup_key": "infra:nats"}
    fields.update(kw)
    return alert_raise(**fields)


def test_acknowledging_stops_retries_clears_degraded_and_is_audited(settings: Any) -> None:
    _down(settings)
    alert = _raise()
    alert_deliver_pending()
    assert alerts_health()["degraded"] is True
    alert_acknowledge(alert_id=alert.pk, actor="alice", note="on it")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == "alice"
    nats = AlertDelivery.objects.get(alert=alert, channel="nats")
    assert nats.status == "cancelled"
    assert nats.last_error == "cancelled: acknowledged by alice"
    assert alerts_health()["degraded"] is False
    event = AuditEvent.objects.get(event_type="alert.acknowledge")
    assert event.actor == "alice"
    assert event.reason == "on it"
    # Repeats still fold into the acknowledged alert.
    assert _raise().pk == alert.pk


def test_a_person_resolving_closes_it_and_new_raises_start_fresh() -> None:
    alert = _raise()
    alert_resolve(alert_id=alert.pk, actor="bob", note="fixed")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.acknowledged_by == "bob"
    assert AuditEvent.objects.filter(event_type="alert.resolve", actor="bob").exists()
    assert _raise().pk != alert.pk
    assert alert.pk not in [a.pk for a in alerts_open()]


def test_a_system_resolve_notifies_the_channels_that_had_the_raise(webhook: HttpSink) -> None:
    alert = _raise()
    alert_deliver_pending()
    assert alert_resolve_key(dedup_key="infra:nats", actor="watchdog", note="back") == 1
    alert_deliver_pending()
    resolved = AlertDelivery.objects.filter(alert=alert, purpose="resolved")
    assert set(resolved.values_list("channel", flat=True)) == {"webhook", "nats"}
    assert webhook.requests[-1].json()["text"].startswith("[CRITICAL] RESOLVED: infra:")
    assert not AuditEvent.objects.filter(event_type="alert.resolve").exists()


@pytest.fixture
def admin_client(client: Client) -> Client:
    operator_upsert(username="ops", password=PASSWORD, totp_secret_b32=SECRET, superuser=True)
    code = f"{totp(base64.b32decode(SECRET)):06d}"
    client.post("/admin/login/?next=/admin/",
                {"username": "ops", "password": PASSWORD, "otp_token": code})
    assert client.get("/admin/").status_code == 200
    return client


def test_admin_banner_lists_undelivered_alerts_and_actions_work(
    settings: Any, admin_client: Client
) -> None:
    _down(settings)
    alert = _raise()
    alert_deliver_pending()
    from alerts.delivery import alerts_health_publish

    alerts_health_publish()
    page = admin_client.get("/admin/").content.decode()
    assert "ALERTS DEGRADED: 1 alert not delivered by any channel" in page
    assert "failing: nats (1)" in page
    listing = admin_client.get("/admin/alerts/alert/?delivered=no").content.decode()
    assert "nats is unreachable" in listing
    detail = admin_client.get(f"/admin/alerts/alert/{alert.pk}/change/").content.decode()
    assert "NoServersError" in detail  # the delivery ledger inline
    done = admin_client.post("/admin/alerts/alert/", {
        "action": "acknowledge", "_selected_action": [alert.pk]})
    assert done.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == "ops"
    alerts_health_publish()
    assert "ALERTS DEGRADED" not in admin_client.get("/admin/").content.decode()


def test_admin_edits_routing_rules_with_registered_channels(admin_client: Client) -> None:
    response = admin_client.post("/admin/alerts/alertroute/add/", {
        "name": "canary to chat", "enabled": "on", "severity": "info",
        "category_pattern": "canary", "channels": ["webhook", "nats"], "note": "",
    })
    assert response.status_code == 302
    route = AlertRoute.objects.get(name="canary to chat")
    assert route.channels == ["webhook", "nats"]
    bad = admin_client.post("/admin/alerts/alertroute/add/", {
        "name": "bad", "severity": "info", "category_pattern": "*", "channels": ["pager"]})
    assert bad.status_code == 200
    assert not AlertRoute.objects.filter(name="bad").exists()


def test_resolving_twice_is_harmless() -> None:
    alert = _raise()
    alert_resolve(alert_id=alert.pk, actor="a", actor_kind=ActorKind.SYSTEM)
    again = alert_resolve(alert_id=alert.pk, actor="b", now=timezone.now())
    assert again.resolved_by == "a"
