"""Fleet sync against a real HTTP server on loopback that speaks the engine's config routes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.test import Client
from django.utils import timezone

from governance import fleet_sync, services
from governance.models import ActorKind, FleetDelivery, FleetEndpoint
from governance.scopes import Scope
from tests.api.engine_sim import ENGINE_KEYS, EngineSim

USER = {"actor": "ops", "actor_kind": ActorKind.USER, "reason": "sync test"}


@pytest.fixture
def engine() -> Iterator[EngineSim]:
    with EngineSim() as sim:
        yield sim


@pytest.fixture
def endpoint(engine: EngineSim, db: None) -> FleetEndpoint:
    return FleetEndpoint.objects.create(name="tradeengine", base_url=engine.url, max_attempts=4)


def _deliver(version: object) -> list[FleetDelivery]:
    created = fleet_sync.fleet_sync_enqueue(version=version)  # type: ignore[arg-type]
    fleet_sync.fleet_sync_run_due()
    return [FleetDelivery.objects.get(pk=d.pk) for d in created]


@pytest.mark.django_db
def test_each_scope_goes_to_its_engine_route(engine: EngineSim, endpoint: FleetEndpoint,
                                             settings: object) -> None:
    settings.CIO_FLEET_SYNC_DISPATCH = "none"  # type: ignore[attr-defined]
    glob = services.config_patch(scope=Scope.global_(), patch={"leverage": 5,
                                 "max_symbol_exposure_usd": 100.0}, base_version=0,
                                 trace_id="e" * 32, **USER)
    [delivery] = _deliver(glob)
    assert delivery.status == "delivered"
    assert delivery.attempts == 1
    sent = engine.state.requests[-1]
    assert (sent["method"], sent["path"]) == ("POST", "/api/v1/config/trading")
    params = sent["body"]["parameters"]
    # Resolved global: defaults + overrides, engine keys only, no nulls, no CIO-only keys.
    assert params["leverage"] == 5
    assert params["stop_loss_pct"] == 2.0
    assert set(params) <= ENGINE_KEYS
    assert None not in params.values()
    assert "max_symbol_exposure_usd" not in params
    assert "override_min_qty" not in params
    assert sent["body"]["changed_by"] == "petrosa-cio"
    assert sent["headers"]["traceparent"].startswith("00-" + "e" * 32)
    side = services.config_patch(scope=Scope.symbol_side("BTCUSDT", "SHORT"),
                                 patch={"leverage": 3}, base_version=0, **USER)
    _deliver(side)
    assert engine.state.requests[-1]["path"] == "/api/v1/config/trading/BTCUSDT/SHORT"
    # Narrow scopes carry their own overrides only, so engine-side inheritance still works.
    assert engine.state.scopes["symbol_side:BTCUSDT:SHORT"] == {"leverage": 3}
    strategy = services.config_patch(scope=Scope.strategy("momentum"),
                                     patch={"min_confidence_threshold": 0.7}, base_version=0,
                                     **USER)
    _deliver(strategy)
    last = engine.state.requests[-1]
    assert (last["method"], last["path"]) == ("PUT", "/api/v1/config/filters/strategy/momentum")
    assert last["body"]["filters"] == {"min_confidence_threshold": 0.7}


@pytest.mark.django_db
def test_429_retry_after_is_honoured_then_delivered(engine: EngineSim, endpoint: FleetEndpoint,
                                                    settings: object) -> None:
    settings.CIO_FLEET_SYNC_DISPATCH = "none"  # type: ignore[attr-defined]
    engine.state.script.append((429, {"success": False, "error": {
        "code": "RATE_LIMITED", "message": "slow down", "details": {"retry_after": 120}}}, {}))
    version = services.config_patch(scope=Scope.symbol("BTCUSDT"), patch={"leverage": 4},
                                    base_version=0, **USER)
    before = timezone.now()
    [delivery] = _deliver(version)
    assert delivery.status == "retrying"
    assert delivery.last_status_code == 429
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 119 <= wait <= 122
    assert fleet_sync.fleet_sync_run_due() == 0  # not due yet
    assert fleet_sync.fleet_sync_run_due(now=timezone.now() + dt.timedelta(seconds=121)) == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert delivery.attempts == 2
    engine.state.script.append((429, {"detail": "x"}, {"Retry-After": "7"}))
    v2 = services.config_patch(scope=Scope.symbol("BTCUSDT"), patch={"leverage": 3},
                               base_version=1, **USER)
    [again] = _deliver(v2)
    assert 5 <= (again.next_attempt_at - timezone.now()).total_seconds() <= 7.5


@pytest.mark.django_db
def test_server_errors_back_off_and_client_errors_fail_at_once(
    engine: EngineSim, endpoint: FleetEndpoint, settings: object,
) -> None:
    settings.CIO_FLEET_SYNC_DISPATCH = "none"  # type: ignore[attr-defined]
    settings.CIO_FLEET_SYNC_BACKOFF_BASE_S = 10.0  # type: ignore[attr-defined]
    engine.state.script += [(503, {"detail": "down"}, {}), (500, {"detail": "boom"}, {})]
    version = services.config_patch(scope=Scope.symbol("ETHUSDT"), patch={"leverage": 4},
                                    base_version=0, **USER)
    [delivery] = _deliver(version)
    first_wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert delivery.status == "retrying"
    assert 4 <= first_wait <= 10
    fleet_sync.fleet_sync_run_due(now=timezone.now() + dt.timedelta(seconds=11))
    delivery.refresh_from_db()
    second_wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert delivery.attempts == 2
    assert 9 <= second_wait <= 20
    fleet_sync.fleet_sync_run_due(now=timezone.now() + dt.timedelta(seconds=21))
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    engine.state.script.append((422, {"detail": "bad"}, {}))
    v2 = services.config_patch(scope=Scope.symbol("ETHUSDT"), patch={"leverage": 3},
                               base_version=1, **USER)
    [bad] = _deliver(v2)
    assert bad.status == "failed"
    assert bad.attempts == 1
    assert bad.last_status_code == 422
    engine.state.script.append((200, {"success": False, "error": {"code": "VALIDATION_ERROR"}},
                                {}))
    v3 = services.config_patch(scope=Scope.symbol("ETHUSDT"), patch={"leverage": 2},
                               base_version=2, **USER)
    [refused] = _deliver(v3)
    assert refused.status == "failed"
    assert "VALIDATION_ERROR" in refused.last_error
    fleet_sync.fleet_delivery_retry(delivery_id=refused.pk)
    fleet_sync.fleet_sync_run_due()
    refused.refresh_from_db()
    assert refused.status == "delivered"


@pytest.mark.django_db
def test_unreachable_endpoint_gives_up_after_max_attempts(settings: object) -> None:
    settings.CIO_FLEET_SYNC_DISPATCH = "none"  # type: ignore[attr-defined]
    settings.CIO_FLEET_SYNC_BACKOFF_BASE_S = 0.0  # type: ignore[attr-defined]
    FleetEndpoint.objects.create(name="gone", base_url="http://127.0.0.1:9", max_attempts=2,
                                 timeout_s=0.5)
    version = services.config_patch(scope=Scope.global_(), patch={"leverage": 4},
                                    base_version=0, **USER)
    [delivery] = fleet_sync.fleet_sync_enqueue(version=version)
    fleet_sync.fleet_sync_run_due()
    fleet_sync.fleet_sync_run_due()
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert delivery.attempts == 2
    assert "ConnectError" in delivery.last_error


@pytest.mark.django_db
def test_a_newer_version_supersedes_an_undelivered_one(engine: EngineSim,
                                                       endpoint: FleetEndpoint,
                                                       settings: object) -> None:
    settings.CIO_FLEET_SYNC_DISPATCH = "none"  # type: ignore[attr-defined]
    scope = Scope.symbol("BTCUSDT")
    v1 = services.config_patch(scope=scope, patch={"leverage": 4}, base_version=0, **USER)
    [old] = fleet_sync.fleet_sync_enqueue(version=v1)
    v2 = services.config_patch(scope=scope, patch={"leverage": 3}, base_version=1, **USER)
    [new] = _deliver(v2)
    old.refresh_from_db()
    assert old.status == "superseded"
    assert new.status == "delivered"
    assert engine.state.scopes["symbol:BTCUSDT"] == {"leverage": 3}
    assert len(engine.state.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_every_committed_version_is_pushed_in_the_background(
    engine: EngineSim, endpoint: FleetEndpoint, settings: object, client: Client,
) -> None:
    settings.CIO_FLEET_SYNC_DISPATCH = "thread"  # type: ignore[attr-defined]
    engine.state.script.append((429, {"retry_after": 0.2}, {}))
    services.config_patch(scope=Scope.symbol("BTCUSDT"), patch={"leverage": 6}, base_version=0,
                          **USER)
    assert fleet_sync.fleet_sync_wait_idle(timeout=15)
    delivery = FleetDelivery.objects.get()
    assert delivery.status == "delivered"
    assert delivery.attempts == 2
    assert engine.state.scopes["symbol:BTCUSDT"] == {"leverage": 6}
    # The admin shows the per-endpoint status.
    from governance.operators import operator_upsert

    operator_upsert(username="ops", password="x" * 20, totp_secret_b32="JBSWY3DPEHPK3PXP",
                    superuser=True)
    from django.contrib.auth import get_user_model
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = get_user_model().objects.get(username="ops")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    page = client.get("/admin/governance/fleetdelivery/")
    assert page.status_code == 200
    assert b"delivered" in page.content
    endpoints = client.get("/admin/governance/fleetendpoint/")
    assert b"symbol:BTCUSDT v1: delivered" in endpoints.content


@pytest.mark.django_db
def test_a_sweep_sends_each_due_delivery_once(engine: EngineSim, endpoint: FleetEndpoint,
                                              settings: object) -> None:
    """A retry that falls due again within the same sweep waits for the next sweep."""
    settings.CIO_FLEET_SYNC_DISPATCH = "none"  # type: ignore[attr-defined]
    settings.CIO_FLEET_SYNC_BACKOFF_BASE_S = 1.0  # type: ignore[attr-defined]
    engine.state.script += [(503, {"detail": "down"}, {})] * 3
    version = services.config_patch(scope=Scope.symbol("ETHUSDT"), patch={"leverage": 4},
                                    base_version=0, **USER)
    [delivery] = _deliver(version)
    assert delivery.attempts == 1
    # Far enough ahead that every backoff is over: still one attempt per sweep.
    assert fleet_sync.fleet_sync_run_due(now=timezone.now() + dt.timedelta(hours=1)) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 2
