"""Print the demo admin's current TOTP code (reads var/demo-admin.json; demo machines only)."""

from __future__ import annotations

import base64
import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp


class Command(BaseCommand):
    help = "Show the current TOTP code of the demo admin created by seed_demo."

    def handle(self, *args: Any, **options: Any) -> None:
        path = settings.VAR_DIR / "demo-admin.json"
        if not path.exists():
            raise CommandError("no demo admin here (run `make run` or seed_demo first)")
        secret = json.loads(path.read_text())["totp_secret"]
        key = base64.b32decode(secret + "=" * (-len(secret) % 8))
        self.stdout.write(f"{totp(key):06d}")
