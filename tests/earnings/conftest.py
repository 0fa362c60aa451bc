"""Earnings report setup: a week of real-looking activity around "now", a staff user with a
verified second factor, and the alerts app's loopback SMTP server."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from alerts.services import alert_raise
from governance import services
from governance.models import ActorKind
from governance.scopes import Scope
from nurse.models import DecisionRecord, ShadowMark, ShadowPosition
from nurse.shadow.services import execution_fill_record
from tests.alerts.servers import SmtpSink, smtp_sink


@pytest.fixture(scope="session", autouse=True)
def _own_celery_queue() -> Iterator[None]:
    """Deliveries enqueued on commit go to this run's own queue, never to a shared one."""
    from django.conf import settings as django_settings

    from cio_site.celery import app as celery_app

    queue = f"{django_settings.CIO_NAMESPACE}.earnings"
    celery_app.conf.task_default_queue = queue
    yield
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)


@pytest.fixture(autouse=True)
def _report_settings(settings: Any) -> None:
    settings.SHADOW_HORIZONS_H = [1, 4, 24, 48]
    settings.SHADOW_REPORT_HORIZON_H = 24
    settings.EARNINGS_REPORT_CHANNELS = ["email"]
    settings.EARNINGS_REPORT_BASE_URL = "https://cio.example.test"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 3
    settings.ALERT_EMAIL_TO = []
    settings.ALERT_RATE_LIMIT_PER_MIN = 6000.0
    settings.ALERT_RATE_LIMIT_BURST = 1000


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpSink]:
    with smtp_sink() as sink:
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = sink.port
        settings.ALERT_EMAIL_TO = ["cio@example.test"]
        yield sink


def _decision(at: dt.datetime, outcome: str, codes: list[str], strategy: str,
              action: str = "buy") -> DecisionRecord:
    return DecisionRecord.objects.create(
        decision_id=uuid.uuid4().hex, strategy_id=strategy, symbol="BTCUSDT", action=action,
        quantity=0.01, price=38700.0, notional=387.0, outcome=outcome,
        reasons=[{"code": c, "detail": ""} for c in codes], reason_codes=codes,
        policy_version=3, received_at=at, decided_at=at, payload={})


def _shadow(rec: DecisionRecord, pnl: dict[int, str]) -> None:
    pos = ShadowPosition.objects.create(
        decision=rec, strategy_id=rec.strategy_id, symbol=rec.symbol, side="LONG",
        quantity=Decimal("0.01"), intent_price=Decimal(38700), entry_price=Decimal(38700),
        notional=Decimal(387), reason_codes=rec.reason_codes,
        primary_reason=rec.reason_codes[0], blocked_at=rec.received_at,
        next_due_at=rec.received_at, status=ShadowPosition.Status.COMPLETE)
    for h, value in pnl.items():
        ShadowMark.objects.create(
            position=pos, horizon_h=h, exit_reason="horizon", exit_price=Decimal(1),
            exit_at=rec.received_at, entry_fill=Decimal(1), exit_fill=Decimal(1),
            fees=Decimal(0), pnl=Decimal(value), ret=Decimal(0), source="candle_files",
            quality="candles")


@pytest.fixture
def week(db: None) -> dt.datetime:
    """Fills, decisions, shadows, a policy change, a halt and an alert in the last week."""
    now = timezone.now()
    day = now - dt.timedelta(days=3)
    for n, (action, price, fee) in enumerate((("buy", 38700, "0.15"), ("close", 39200, "0.16"),
                                              ("buy", 39000, "0.15"), ("close", 38500, "0.15"))):
        execution_fill_record(event={
            "status": "filled", "event_id": f"w{n}", "strategy_id": "trend-btc",
            "symbol": "BTCUSDT", "action": action, "filled_quantity": 0.02 if n < 2 else 0.01,
            "avg_price": price, "commission": fee,
            "timestamp": (day + dt.timedelta(hours=n)).isoformat()})
    for i in range(3):
        _decision(day + dt.timedelta(hours=i), "approved", [], "trend-btc")
    _shadow(_decision(day, "blocked", ["CONFIG_SIZE_ABOVE_MAX"], "breakout-btc"),
            {1: "-3", 4: "-8", 24: "-12.5", 48: "-20"})
    _shadow(_decision(day + dt.timedelta(days=1), "blocked",
                      ["STATE_REDUCING", "CONFIG_CONFIDENCE_LOW"], "meanrev-eth"),
            {1: "2", 4: "4.25", 24: "7.75"})
    _decision(day, "blocked", ["DUPLICATE_SIGNAL_ID"], "scalper-btc")
    services.config_patch(scope=Scope.global_(), patch={"max_position_size_usd": 800.0},
                          base_version=0, actor="risk-officer", actor_kind=ActorKind.USER,
                          reason="Crash week: smaller orders until volatility settles")
    services.trading_state_set(scope=Scope.strategy("scalper-btc"), state="HALTED",
                               actor="risk-officer", actor_kind=ActorKind.USER,
                               reason="scalper re-sends signals")
    alert_raise(severity="critical", category="nurse_heartbeat", source="watchdog",
                message="Nurse n1 silent for 42 s", channels=[])
    return timezone.now() + dt.timedelta(minutes=1)


def staff_client() -> Client:
    from django.contrib.auth import get_user_model
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from governance.operators import operator_upsert

    operator_upsert(username="ops", password="x" * 20, totp_secret_b32="JBSWY3DPEHPK3PXP",
                    superuser=False)
    user = get_user_model().objects.get(username="ops")
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client
