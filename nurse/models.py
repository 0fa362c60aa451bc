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


# --- Shadow ROI, actual PnL and the earnings report ------------------------------------------


class ShadowPosition(models.Model):
    """A blocked entry tracked as if it had been executed (the gate's "safety tax")."""

    class Side(models.TextChoices):
        LONG = "LONG", "Long"
        SHORT = "SHORT", "Short"

    class Status(models.TextChoices):
        OPEN = "open", "Horizons still to mark"
        COMPLETE = "complete", "Every horizon marked"
        INCOMPLETE = "incomplete", "Gave up: no price for some horizons (never invented)"

    decision = models.OneToOneField(DecisionRecord, on_delete=models.CASCADE,
                                    related_name="shadow", to_field="decision_id")
    strategy_id = models.CharField(max_length=128, db_index=True)
    symbol = models.CharField(max_length=32, db_index=True)
    side = models.CharField(max_length=5, choices=Side.choices)
    quantity = models.DecimalField(max_digits=36, decimal_places=12)
    intent_price = models.DecimalField(max_digits=36, decimal_places=12,
                                       help_text="the price the intent carried")
    entry_price = models.DecimalField(
        max_digits=36, decimal_places=12, null=True, blank=True,
        help_text="market price at block time (open of the first candle at or after it)")
    entry_source = models.CharField(max_length=32, blank=True, default="")
    notional = models.DecimalField(max_digits=36, decimal_places=12,
                                   help_text="quantity x intent price, quote currency")
    stop_loss = models.DecimalField(max_digits=36, decimal_places=12, null=True, blank=True)
    take_profit = models.DecimalField(max_digits=36, decimal_places=12, null=True, blank=True)
    stop_loss_pct = models.DecimalField(max_digits=12, decimal_places=10, null=True, blank=True)
    take_profit_pct = models.DecimalField(max_digits=12, decimal_places=10, null=True,
                                          blank=True)
    reason_codes = models.JSONField(default=list)
    primary_reason = models.CharField(max_length=64, db_index=True)
    policy_version = models.PositiveBigIntegerField(default=0)
    blocked_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN,
                              db_index=True)
    next_due_at = models.DateTimeField(db_index=True,
                                       help_text="when the next horizon can be marked")
    attempts = models.PositiveIntegerField(default=0)
    last_note = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-blocked_at"]
        indexes = [models.Index(fields=["status", "next_due_at"], name="shadow_due")]

    def __str__(self) -> str:
        return f"shadow {self.side} {self.quantity} {self.symbol} ({self.primary_reason})"


class ShadowMark(models.Model):
    """A shadow position's result at one horizon: what closing it then would have realised."""

    class Exit(models.TextChoices):
        STOP_LOSS = "sl", "Stop-loss touched"
        STOP_LOSS_GAP = "sl_gap", "Opened beyond the stop-loss"
        TAKE_PROFIT = "tp", "Take-profit touched"
        TAKE_PROFIT_GAP = "tp_gap", "Opened beyond the take-profit"
        HORIZON = "horizon", "Marked at the horizon"

    position = models.ForeignKey(ShadowPosition, on_delete=models.CASCADE, related_name="marks")
    horizon_h = models.PositiveSmallIntegerField()
    exit_reason = models.CharField(max_length=8, choices=Exit.choices)
    exit_price = models.DecimalField(max_digits=36, decimal_places=12)
    exit_at = models.DateTimeField()
    entry_fill = models.DecimalField(max_digits=36, decimal_places=12)
    exit_fill = models.DecimalField(max_digits=36, decimal_places=12)
    fees = models.DecimalField(max_digits=36, decimal_places=12)
    pnl = models.DecimalField(max_digits=36, decimal_places=12, help_text="quote currency")
    ret = models.DecimalField(max_digits=24, decimal_places=12,
                              help_text="pnl / entry notional")
    source = models.CharField(max_length=32)
    quality = models.CharField(max_length=16,
                               help_text="candles (high/low known) or last_prices")
    note = models.CharField(max_length=300, blank=True, default="")
    marked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "horizon_h"]
        constraints = [models.UniqueConstraint(fields=["position", "horizon_h"],
                                               name="uniq_shadow_mark_horizon")]

    def __str__(self) -> str:
        return f"{self.position_id} @{self.horizon_h}h {self.exit_reason} pnl={self.pnl}"


class ShadowCursor(models.Model):
    """Where a resumable scan stopped (e.g. the last DecisionRecord id turned into shadows)."""

    name = models.CharField(max_length=64, unique=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"


class ExecutionFill(models.Model):
    """One fill reported by the engine on ``execution.events.>``, with the PnL it realised."""

    event_key = models.CharField(max_length=80, unique=True,
                                 help_text="the event's id, or a digest of its content")
    decision_id = models.CharField(max_length=40, blank=True, default="", db_index=True)
    strategy_id = models.CharField(max_length=128, db_index=True)
    symbol = models.CharField(max_length=32, db_index=True)
    position_side = models.CharField(max_length=5)
    action = models.CharField(max_length=8)
    reducing = models.BooleanField(default=False)
    quantity = models.DecimalField(max_digits=36, decimal_places=12)
    price = models.DecimalField(max_digits=36, decimal_places=12)
    fee = models.DecimalField(max_digits=36, decimal_places=12, default=0)
    realized_pnl = models.DecimalField(max_digits=36, decimal_places=12, default=0,
                                       help_text="net of this fill's fee")
    pnl_source = models.CharField(max_length=16, default="computed",
                                  help_text="event (the engine's figure) or computed")
    filled_at = models.DateTimeField(db_index=True)
    payload = models.JSONField(default=dict)
    stored_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-filled_at"]

    def __str__(self) -> str:
        return f"{self.action} {self.quantity} {self.symbol} @ {self.price} ({self.strategy_id})"


class BookPosition(models.Model):
    """Open quantity and average entry of one (strategy, symbol, side), from fills."""

    strategy_id = models.CharField(max_length=128)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=5)
    quantity = models.DecimalField(max_digits=36, decimal_places=12, default=0)
    avg_price = models.DecimalField(max_digits=36, decimal_places=12, default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["strategy_id", "symbol", "side"],
                                               name="uniq_book_position")]

    def __str__(self) -> str:
        return f"{self.strategy_id} {self.symbol} {self.side} {self.quantity}@{self.avg_price}"


class EarningsReport(models.Model):
    """A generated earnings report (the Friday one, or on demand) and its delivery."""

    period_start = models.DateTimeField()
    period_end = models.DateTimeField(db_index=True)
    window_hours = models.PositiveIntegerField()
    data = models.JSONField(default=dict, help_text="the summary the page and e-mail render")
    generated_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=16, default="weekly")
    alert_public_id = models.CharField(max_length=40, blank=True, default="",
                                       help_text="the alert that carried the e-mail")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_end"]
        constraints = [models.UniqueConstraint(fields=["kind", "period_end", "window_hours"],
                                               name="uniq_earnings_report_period")]

    def __str__(self) -> str:
        return f"earnings {self.kind} {self.period_start:%Y-%m-%d} .. {self.period_end:%Y-%m-%d}"
