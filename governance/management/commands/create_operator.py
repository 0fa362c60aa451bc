"""Create or update a staff user with a confirmed TOTP device bound to the given secret."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.errors import CioError
from governance.operators import operator_upsert


class Command(BaseCommand):
    help = "Create (or update) a staff operator with TOTP MFA."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--totp-secret", required=True, help="base32 TOTP secret")
        parser.add_argument("--superuser", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            operator_upsert(
                username=options["username"], password=options["password"],
                totp_secret_b32=options["totp_secret"], superuser=options["superuser"],
            )
        except CioError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(self.style.SUCCESS(f"operator {options['username']} ready (TOTP bound)"))
