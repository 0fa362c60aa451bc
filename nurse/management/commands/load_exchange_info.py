"""Store Binance USD-M exchangeInfo (order filters) where every Nurse reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nurse.services import DEFAULT_EXCHANGE_INFO, exchange_info_store


class Command(BaseCommand):
    help = "Load exchangeInfo from a JSON file (default: the shipped USD-M fixture)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=str(DEFAULT_EXCHANGE_INFO))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            info = json.loads(Path(options["path"]).read_text())
            count = exchange_info_store(info=info)
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"cannot load exchange info: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"exchange filters stored for {count} symbols"))
