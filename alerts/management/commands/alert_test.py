"""Send a test alert through every registered channel and print each channel's result."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alerts.delivery import alert_deliver
from alerts.models import DeliveryStatus, Severity
from alerts.services import alert_test_send
from governance.errors import CioError


class Command(BaseCommand):
    help = ("Send a test alert through every channel (rate limits bypassed) and print each "
            "channel's result; exit 1 when no channel confirmed it. Failed channels keep "
            "retrying through the normal outbox like any other alert.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--severity", default=Severity.CRITICAL, choices=Severity.values)
        parser.add_argument("--message", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            alert = alert_test_send(severity=options["severity"], message=options["message"],
                                    actor="manage.py")
        except CioError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        if alert.pk is None:
            raise CommandError("the database is unreachable: the test alert was spooled")
        outcomes = alert_deliver(alert_id=alert.pk, bypass_rate_limit=True)
        self.stdout.write(f"test alert {alert.public_id} ({alert.severity})")
        width = max((len(o.channel) for o in outcomes), default=8)
        for outcome in sorted(outcomes, key=lambda o: o.channel):
            text = outcome.detail if outcome.status != DeliveryStatus.RETRYING else outcome.error
            line = f"  {outcome.channel:<{width}}  {outcome.status:<9}  {text}"
            style = {DeliveryStatus.CONFIRMED: self.style.SUCCESS,
                     DeliveryStatus.RETRYING: self.style.ERROR}.get(
                         DeliveryStatus(outcome.status), self.style.WARNING)
            self.stdout.write(style(line))
        confirmed = [o.channel for o in outcomes if o.status == DeliveryStatus.CONFIRMED]
        if not confirmed:
            raise CommandError("no channel confirmed the test alert")
        self.stdout.write(self.style.SUCCESS(f"confirmed by: {', '.join(confirmed)}"))
