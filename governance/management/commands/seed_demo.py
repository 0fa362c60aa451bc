"""Seed the zero-setup demo: an admin with TOTP and a small demo configuration.

Idempotent: the admin's credentials are kept in ``var/demo-admin.json`` (never in the repo)
and printed on every run; the configuration is seeded only when none exists yet.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import segno
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from governance import services
from governance.models import ActorKind, ConfigHead
from governance.operators import operator_upsert
from governance.scopes import Scope

DEMO_CONFIG: list[tuple[Scope, dict[str, Any], str]] = [
    (Scope.global_(), {"leverage": 5, "max_position_size_usd": 2000.0,
                       "allowed_symbols": ["BTCUSDT", "ETHUSDT", "XRPUSDT"],
                       "min_confidence_threshold": 0.55}, "demo: conservative fleet defaults"),
    (Scope.symbol("BTCUSDT"), {"max_symbol_exposure_usd": 8000.0}, "demo: BTC has more room"),
    (Scope.strategy("demo-momentum"), {"max_orders_per_minute": 20}, "demo: momentum bot rate"),
    (Scope.symbol_side("ETHUSDT", "SHORT"), {"position_size_pct": 0.05},
     "demo: smaller ETH shorts"),
]


class Command(BaseCommand):
    help = "Create the demo admin (with TOTP) and a demo configuration; prints the credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, **options: Any) -> None:
        creds_path = settings.VAR_DIR / "demo-admin.json"
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        if creds_path.exists():
            creds = json.loads(creds_path.read_text())
        else:
            creds = {
                "username": options["username"],
                "password": secrets.token_urlsafe(12),
                "totp_secret": base64.b32encode(secrets.token_bytes(20)).decode(),
            }
            creds_path.write_text(json.dumps(creds))
            creds_path.chmod(0o600)
        operator_upsert(username=creds["username"], password=creds["password"],
                        totp_secret_b32=creds["totp_secret"], superuser=True, actor="seed_demo")
        try:
            from nurse.services import DEFAULT_EXCHANGE_INFO, exchange_info_store

            count = exchange_info_store(info=json.loads(DEFAULT_EXCHANGE_INFO.read_text()))
            self.stdout.write(f"exchange filters loaded for {count} symbols")
        except Exception as exc:  # Redis may still be starting; the Nurse then blocks entries
            self.stderr.write(f"exchange filters not loaded: {type(exc).__name__}: {exc}")
        if not ConfigHead.objects.exists():
            for scope, patch, reason in DEMO_CONFIG:
                services.config_patch(scope=scope, patch=patch, base_version=0, actor="seed_demo",
                                      actor_kind=ActorKind.SYSTEM, reason=reason)
            self.stdout.write("demo configuration seeded (4 scopes)")
        uri = (f"otpauth://totp/Petrosa%20CIO:{creds['username']}?secret={creds['totp_secret']}"
               "&issuer=Petrosa%20CIO")
        self.stdout.write(self.style.SUCCESS("\n=== Petrosa CIO demo admin ==="))
        self.stdout.write("  URL:         http://127.0.0.1:8000/admin/")
        self.stdout.write(f"  username:    {creds['username']}")
        self.stdout.write(f"  password:    {creds['password']}")
        self.stdout.write(f"  TOTP secret: {creds['totp_secret']}  (add it to an authenticator)")
        self.stdout.write("  current code: .venv/bin/python manage.py demo_totp")
        qr = segno.make(uri, error="l")
        qr.terminal(compact=True)
