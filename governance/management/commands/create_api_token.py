"""Create an API token and print it once: ``create_api_token --principal NAME --scopes S[,S]``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from governance.auth import SCOPES, api_token_create
from governance.errors import CioError


class Command(BaseCommand):
    help = (
        "Create an API token for a principal and print it once (only its hash is stored). "
        f"Scopes: {', '.join(SCOPES)}. A token with the 'agent' scope belongs to an agent: "
        "its writes need a thought trace and pass the agent envelope."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--principal", required=True, help="who the token acts as")
        parser.add_argument("--scopes", required=True,
                            help="comma-separated, e.g. read,config:write or agent,read")
        parser.add_argument("--expires-in-days", type=int, default=None,
                            help="expiry in days (default: none)")
        parser.add_argument("--description", default="")
        parser.add_argument("--created-by", default="cli")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["expires_in_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-in-days must be at least 1")
        expires = timezone.now() + dt.timedelta(days=days) if days else None
        try:
            token, raw = api_token_create(
                principal=options["principal"], scopes=options["scopes"].split(","),
                created_by=options["created_by"], expires_at=expires,
                description=options["description"])
        except CioError as exc:
            raise CommandError(f"{exc.code}: {exc.message} {exc.details or ''}") from exc
        self.stderr.write(
            f"token for {token.principal} ({token.kind}), scopes {','.join(token.scopes)}"
            + (f", expires {token.expires_at.isoformat()}" if token.expires_at else "")
            + "; it is shown once:")
        self.stdout.write(raw)
