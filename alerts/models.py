"""Alerts: the distilled alert (the outbox), its per-channel delivery ledger, routing rules."""

from __future__ import annotations

import uuid

from django.db import models


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    """One distilled alert: identical raises (same dedup key) inside the window fold into it."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    rank = models.PositiveSmallIntegerField(default=0, help_text="0 info, 1 warning, 2 critical")
    category = models.CharField(max_length=64, db_index=True)
    source = models.CharField(max_length=128)
    message = models.TextField()
    last_message = models.TextField(blank=True, default="")
    dedup_key = models.CharField(max_length=200, db_index=True)
    context = models.JSONField(default=dict, blank=True)
    trace_id = models.CharField(max_length=32, blank=True, default="")
    count = models.PositiveIntegerField(default=1, help_text="occurrences folded into this alert")
    notified_count = models.PositiveIntegerField(
        default=1, help_text="occurrences covered by notifications already queued"
    )
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    fold_until = models.DateTimeField(help_text="new occurrences fold into this alert until then")
    status = models.CharField(max_length=12, choices=AlertStatus.choices,
                              default=AlertStatus.OPEN, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True,
                                        help_text="first confirmation by any channel")
    summary_at = models.DateTimeField(null=True, blank=True,
                                      help_text="when the end-of-storm summary was queued")
    acknowledged_by = models.CharField(max_length=150, blank=True, default="")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-last_seen_at",)
        indexes = (
            models.Index(fields=["dedup_key", "-first_seen_at"], name="alert_dedup_recent"),
            models.Index(fields=["delivered_at", "acknowledged_at"], name="alert_undelivered"),
            models.Index(fields=["fold_until", "summary_at"], name="alert_storm_end"),
        )

    def __str__(self) -> str:
        times = f" x{self.count}" if self.count > 1 else ""
        return f"[{self.severity}] {self.category}@{self.source}: {self.message[:60]}{times}"


class DeliveryPurpose(models.TextChoices):
    RAISE = "raise", "Alert raised"
    SUMMARY = "summary", "Storm summary"
    RESOLVED = "resolved", "Resolved notice"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending (not tried yet)"
    RETRYING = "retrying", "Retrying (last attempt failed)"
    CONFIRMED = "confirmed", "Confirmed by the receiver"
    EMITTED = "emitted", "Emitted in-process only (no receipt; not a confirmation)"
    SKIPPED = "skipped", "Skipped (channel not configured)"
    CANCELLED = "cancelled", "Cancelled (a person acknowledged the alert)"


DUE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class AlertDelivery(models.Model):
    """One channel's delivery of one alert notice: the ledger of attempts and their outcome."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=32)
    purpose = models.CharField(max_length=8, choices=DeliveryPurpose.choices,
                               default=DeliveryPurpose.RAISE)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    deferrals = models.PositiveIntegerField(default=0,
                                            help_text="times the rate limit held it back")
    last_error = models.TextField(blank=True, default="", help_text="redacted")
    detail = models.CharField(max_length=200, blank=True, default="",
                              help_text="the receiver's answer (message or annotation id)")
    next_attempt_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("alert_id", "purpose", "channel")
        constraints = (
            models.UniqueConstraint(fields=["alert", "channel", "purpose"],
                                    name="uniq_alert_delivery"),
        )
        indexes = (models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),)

    def __str__(self) -> str:
        return f"{self.channel}/{self.purpose} of alert {self.alert_id}: {self.status}"


class AlertRoute(models.Model):
    """Which channels info/warning alerts of matching categories go to (critical: every one)."""

    name = models.CharField(max_length=80, unique=True)
    enabled = models.BooleanField(default=True)
    severity = models.CharField(
        max_length=8, blank=True, default="",
        choices=[("", "info and warning"), (Severity.INFO, "info"),
                 (Severity.WARNING, "warning")],
    )
    category_pattern = models.CharField(
        max_length=64, default="*", help_text="shell-style pattern, e.g. llm* or canary"
    )
    channels = models.JSONField(default=list, help_text="names of registered channels")
    note = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name}: {self.severity or 'info+warning'} {self.category_pattern} -> " \
               f"{', '.join(self.channels)}"
