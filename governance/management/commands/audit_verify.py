"""Walk the audit hash chain; exit 1 and name the first broken row when it does not hold."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from governance.audit import audit_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain (detects altered, inserted or removed rows)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_verify()
        if not result.ok:
            raise CommandError(
                f"audit chain BROKEN at seq {result.broken_seq}: {result.problem} "
                f"({result.checked} rows verified before it)"
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain OK: {result.checked} rows verified"))
