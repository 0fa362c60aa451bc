"""Strategist data: market regime, portfolio health, ladder steps, LLM cycles, memory."""

from __future__ import annotations

from django.db import models

FLEET = "FLEET"  # the symbol key of the fleet-wide regime row


class VolatilityPhase(models.TextChoices):
    CALM = "calm", "Calm"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    EXTREME = "extreme", "Extreme"


class DrawdownPhase(models.TextChoices):
    NONE = "none", "None (< 5% below peak)"
    MODERATE = "moderate", "Moderate (5-10%)"
    DEEP = "deep", "Deep (10-20%)"
    SEVERE = "severe", "Severe (>= 20%)"


class RegimeStatus(models.Model):
    """The latest regime of one symbol (or ``FLEET``); read by the policy snapshot."""

    symbol = models.CharField(max_length=32, unique=True)
    volatility_phase = models.CharField(max_length=8, choices=VolatilityPhase.choices,
                                        default=VolatilityPhase.NORMAL)
    drawdown_phase = models.CharField(max_length=8, choices=DrawdownPhase.choices,
                                      default=DrawdownPhase.NONE)
    realized_vol = models.JSONField(default=dict, help_text="annualised, per window")
    vol_ratio = models.FloatField(default=1.0, help_text="short-window RV / baseline RV")
    move_1h = models.FloatField(default=0.0, help_text="close-to-close return over 1 h")
    drawdown = models.FloatField(default=0.0, help_text="fraction below the window's peak")
    trend_strength = models.FloatField(default=0.0, help_text="signed efficiency ratio")
    last_close = models.FloatField(default=0.0)
    candle_at = models.DateTimeField(null=True, blank=True)
    candles = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=32, default="nats")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("symbol",)
        verbose_name_plural = "regime status"

    def __str__(self) -> str:
        return f"{self.symbol}: {self.volatility_phase}/{self.drawdown_phase}"


class RegimeShift(models.Model):
    """A change of a symbol's volatility or drawdown phase (append-only history)."""

    symbol = models.CharField(max_length=32, db_index=True)
    from_volatility = models.CharField(max_length=8)
    to_volatility = models.CharField(max_length=8)
    from_drawdown = models.CharField(max_length=8)
    to_drawdown = models.CharField(max_length=8)
    metrics = models.JSONField(default=dict)
    candle_at = models.DateTimeField(null=True, blank=True)
    policy_version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.symbol}: {self.from_volatility} -> {self.to_volatility}"


class PortfolioState(models.Model):
    """Single row: the fleet's equity, its peak, exposure and today's PnL."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    equity = models.DecimalField(max_digits=24, decimal_places=8, default=0)
    peak_equity = models.DecimalField(max_digits=24, decimal_places=8, default=0)
    peak_at = models.DateTimeField(null=True, blank=True)
    drawdown = models.FloatField(default=0.0, help_text="fraction below peak equity")
    exposure = models.DecimalField(max_digits=24, decimal_places=8, default=0)
    day = models.DateField(null=True, blank=True)
    day_start_equity = models.DecimalField(max_digits=24, decimal_places=8, default=0)
    daily_pnl = models.DecimalField(max_digits=24, decimal_places=8, default=0)
    source = models.CharField(max_length=32, default="")
    event_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"equity {self.equity} (peak {self.peak_equity}, dd {self.drawdown:.2%})"


class EquityPoint(models.Model):
    """One equity observation (history for post-mortems and the dashboard)."""

    at = models.DateTimeField(db_index=True)
    equity = models.DecimalField(max_digits=24, decimal_places=8)
    peak_equity = models.DecimalField(max_digits=24, decimal_places=8)
    drawdown = models.FloatField()
    source = models.CharField(max_length=32, default="")

    class Meta:
        ordering = ("-at",)

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.equity}"


class LadderStep(models.Model):
    """One step of the deterministic protection ladder, with its measured reaction time."""

    class Step(models.TextChoices):
        REDUCE = "reduce", "Drawdown >= reduce threshold: REDUCING"
        HALT = "halt", "Drawdown >= halt threshold: HALTED (nuclear alert)"
        VOLATILITY = "volatility", "Volatility phase extreme: scale-downs per policy"

    step = models.CharField(max_length=10, choices=Step.choices)
    symbol = models.CharField(max_length=32, default="", blank=True)
    drawdown = models.FloatField(default=0.0)
    threshold = models.FloatField(default=0.0)
    equity = models.DecimalField(max_digits=24, decimal_places=8, default=0)
    peak_equity = models.DecimalField(max_digits=24, decimal_places=8, default=0)
    state_before = models.CharField(max_length=8, default="", blank=True)
    state_after = models.CharField(max_length=8, default="", blank=True)
    policy_version = models.PositiveBigIntegerField(default=0)
    event_at = models.DateTimeField(null=True, blank=True,
                                    help_text="when the market/execution event was published")
    received_at = models.DateTimeField(null=True, blank=True)
    acted_at = models.DateTimeField(null=True, blank=True,
                                    help_text="when the new policy was committed")
    reaction_ms = models.FloatField(null=True, blank=True,
                                    help_text="event published -> policy committed")
    alert_id = models.BigIntegerField(null=True, blank=True)
    canary = models.JSONField(default=dict, blank=True)
    trace_id = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.step} at dd {self.drawdown:.2%} -> {self.state_after}"


class StrategistCycle(models.Model):
    """One policy cycle: inputs, prompt hash, output, auditor verdict and what was applied."""

    class Status(models.TextChoices):
        APPLIED = "applied", "Applied"
        PARTIAL = "partially_applied", "Partially applied (rest awaits approval)"
        PENDING = "pending_approval", "Awaiting staff approval"
        NO_CHANGE = "no_change", "No change proposed"
        REFUSED = "refused", "Refused by the auditor"
        DEGRADED = "degraded", "Brain failure: nothing changed"
        RUNNING = "running", "Running"

    trigger = models.CharField(max_length=32, default="schedule")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING,
                              db_index=True)
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=120, blank=True, default="")
    inputs = models.JSONField(default=dict, help_text="the redacted context sent")
    prompt_hash = models.CharField(max_length=64, blank=True, default="")
    output = models.TextField(blank=True, default="", help_text="raw model output")
    proposal = models.JSONField(null=True, blank=True)
    verdict = models.JSONField(default=dict, blank=True)
    replay = models.JSONField(default=dict, blank=True)
    applied = models.JSONField(default=list, blank=True,
                               help_text="[{kind, scope, status, version, approval_id}]")
    applied_policy_version = models.PositiveBigIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=48, blank=True, default="")
    error = models.TextField(blank=True, default="")
    alerts = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    trace_id = models.CharField(max_length=32, db_index=True)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-started_at",)

    def __str__(self) -> str:
        return f"cycle {self.pk} ({self.trigger}) {self.status}"


class ProviderBreaker(models.Model):
    """Circuit-breaker state of one LLM provider, shared by every worker."""

    provider = models.CharField(max_length=32, unique=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    open_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.provider}: {self.consecutive_failures} failures"


class MemoryItem(models.Model):
    """One embedded memory: a thought trace, post-mortem, decision or lesson."""

    class Kind(models.TextChoices):
        THOUGHT = "thought_trace", "Thought trace"
        POST_MORTEM = "post_mortem", "Post-mortem"
        DECISION = "decision", "Notable decision"
        LESSON = "lesson", "Lesson learned"

    kind = models.CharField(max_length=16, choices=Kind.choices, db_index=True)
    title = models.CharField(max_length=200)
    text = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    embedder = models.CharField(max_length=64, db_index=True)
    dim = models.PositiveIntegerField()
    # float32, L2-normalised, little-endian: the exact-scan and IVF re-rank read it as is.
    vector = models.BinaryField()
    # IVF list (nearest centroid) for large stores; -1 = not assigned (exact scan).
    ivf_list = models.IntegerField(default=-1)
    source_ref = models.CharField(max_length=120, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = (models.Index(fields=["embedder", "ivf_list"], name="memory_ivf_list"),)

    def __str__(self) -> str:
        return f"{self.kind}: {self.title}"


class MemoryCentroid(models.Model):
    """One IVF centroid of an embedder's vector space (k-means over the stored items)."""

    embedder = models.CharField(max_length=64)
    list_no = models.IntegerField()
    vector = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    trained_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = (models.UniqueConstraint(fields=["embedder", "list_no"],
                                               name="uniq_memory_centroid"),)

    def __str__(self) -> str:
        return f"{self.embedder} list {self.list_no} ({self.size})"


class PostMortem(models.Model):
    """A structured report after a drawdown breach and a proposed change awaiting review."""

    class Status(models.TextChoices):
        AWAITING = "awaiting_review", "Awaiting human review"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    ladder_step = models.ForeignKey(LadderStep, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="post_mortems")
    title = models.CharField(max_length=200)
    report = models.JSONField(default=dict)
    summary = models.TextField()
    proposed_change = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AWAITING,
                              db_index=True)
    reviewed_by = models.CharField(max_length=150, blank=True, default="")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True, default="")
    memory_item = models.ForeignKey(MemoryItem, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"post-mortem {self.pk}: {self.title} ({self.status})"
