"""Durable records of the gate's decisions (written by the audit sink from JetStream)."""

from __future__ import annotations

from django.db import models


class DecisionRecord(models.Model):
    """One intent's decision: approved (a signal was published) or blocked, with reasons."""

    class Outcome(models.TextChoices):
        APPROVED = "approved", "Approved"
        BLOCKED = "blocked", "Blocked"

    decision_id = models.CharField(max_length=40, unique=True)
    intent_id = models.CharField(max_length=128, blank=True, default="", db_index=True)
    strategy_id = models.CharField(max_length=128, db_index=True)
    symbol = models.CharField(max_length=32, db_index=True)
    action = models.CharField(max_length=8)
    quantity = models.FloatField(null=True)
    price = models.FloatField(null=True)
    notional = models.FloatField(null=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, db_index=True)
    reasons = models.JSONField(default=list, help_text="[{code, detail}]")
    reason_codes = models.JSONField(default=list, help_text="codes only, for filtering")
    policy_version = models.PositiveBigIntegerField(default=0)
    latency_us = models.PositiveIntegerField(default=0)
    trace_id = models.CharField(max_length=32, blank=True, default="", db_index=True)
    traceparent = models.CharField(max_length=64, blank=True, default="")
    instance = models.CharField(max_length=64, blank=True, default="")
    signal_subject = models.CharField(max_length=200, blank=True, default="")
    received_at = models.DateTimeField()
    decided_at = models.DateTimeField(db_index=True)
    payload = models.JSONField(default=dict, help_text="the intent as received (parsed)")
    stored_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-decided_at"]
        indexes = [
            models.Index(fields=["outcome", "-decided_at"], name="decision_outcome_time"),
            models.Index(fields=["strategy_id", "-decided_at"], name="decision_strategy_time"),
        ]

    def __str__(self) -> str:
        return f"{self.decision_id} {self.outcome} {self.strategy_id} {self.symbol}"
