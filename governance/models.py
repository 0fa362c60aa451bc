"""Governance data: versioned config, trading state, hard gates, policy head, audit trail."""

from __future__ import annotations

from typing import Any

from django.db import models

from governance.scopes import Scope, ScopeKind


class ActorKind(models.TextChoices):
    USER = "user", "User"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"


class ConfigVersion(models.Model):
    """One immutable version of one scope's parameter overrides."""

    scope_kind = models.CharField(max_length=16, choices=[(k.value, k.value) for k in ScopeKind])
    scope_key = models.CharField(max_length=160, blank=True, default="")
    version = models.PositiveIntegerField()
    params = models.JSONField(default=dict, help_text="The scope's overrides after this write.")
    previous = models.JSONField(default=dict, help_text="The scope's overrides before it.")
    changes = models.JSONField(default=list, help_text="[{parameter, before, after}]")
    operation = models.CharField(max_length=16, default="patch")  # patch | replace | rollback
    rollback_to = models.PositiveIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=150)
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices)
    reason = models.TextField()
    thought_trace = models.TextField(blank=True, default="")
    trace_id = models.CharField(max_length=32, blank=True, default="")
    policy_version = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope_kind", "scope_key", "version"], name="uniq_config_scope_version"
            )
        ]
        ordering = ["scope_kind", "scope_key", "-version"]

    def __str__(self) -> str:
        return f"{self.scope} v{self.version}"

    @property
    def scope(self) -> Scope:
        return Scope(ScopeKind(self.scope_kind), self.scope_key)


class ConfigHead(models.Model):
    """The current version of a scope; its row lock serialises writers of that scope."""

    scope_kind = models.CharField(max_length=16, choices=[(k.value, k.value) for k in ScopeKind])
    scope_key = models.CharField(max_length=160, blank=True, default="")
    version = models.PositiveIntegerField(default=0)
    params = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope_kind", "scope_key"], name="uniq_config_head")
        ]

    def __str__(self) -> str:
        return f"{Scope(ScopeKind(self.scope_kind), self.scope_key)} @ v{self.version}"


class TradingStateValue(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    REDUCING = "REDUCING", "Reducing (only position-reducing intents pass)"
    HALTED = "HALTED", "Halted (no new exposure)"


class TradingState(models.Model):
    """The trading state of one scope (global, strategy or symbol)."""

    scope_kind = models.CharField(max_length=16, choices=[(k.value, k.value) for k in ScopeKind])
    scope_key = models.CharField(max_length=160, blank=True, default="")
    state = models.CharField(
        max_length=8, choices=TradingStateValue.choices, default=TradingStateValue.ACTIVE
    )
    reason = models.TextField(blank=True, default="")
    set_by = models.CharField(max_length=150, blank=True, default="")
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices, default=ActorKind.SYSTEM)
    set_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # A halt from the protection ladder needs a staff action to re-arm.
    requires_staff_rearm = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope_kind", "scope_key"], name="uniq_trading_state")
        ]

    def __str__(self) -> str:
        return f"{Scope(ScopeKind(self.scope_kind), self.scope_key)}: {self.state}"


class HardGate(models.Model):
    """A hard safety limit in force (bounded by the ceilings in ``governance.hard_gates``)."""

    key = models.CharField(max_length=64, unique=True)
    value = models.JSONField()
    updated_by = models.CharField(max_length=150, default="system")
    reason = models.TextField(default="code default")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key} = {self.value}"


class PolicyHead(models.Model):
    """Single row: the fleet-wide policy version, bumped by every governance change."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"policy v{self.version}"


class AuditEvent(models.Model):
    """Append-only, hash-chained governance event; the database rejects UPDATE and DELETE."""

    seq = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField(db_index=True)
    event_type = models.CharField(max_length=64, db_index=True)
    actor = models.CharField(max_length=150, db_index=True)
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices)
    scope = models.CharField(max_length=180, blank=True, default="", db_index=True)
    summary = models.TextField()
    payload = models.JSONField(default=dict)
    reason = models.TextField(blank=True, default="")
    thought_trace = models.TextField(blank=True, default="")
    trace_id = models.CharField(max_length=32, blank=True, default="", db_index=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.event_type} by {self.actor}"

    def chain_fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "created_at": self.created_at.isoformat(),
            "event_type": self.event_type,
            "actor": self.actor,
            "actor_kind": self.actor_kind,
            "scope": self.scope,
            "summary": self.summary,
            "payload": self.payload,
            "reason": self.reason,
            "thought_trace": self.thought_trace,
            "trace_id": self.trace_id,
        }


# --- API & MCP: tokens, the agent envelope, pending approvals, fleet sync --------------------


class ApiToken(models.Model):
    """A revocable bearer token of one principal; only a SHA-256 digest of its secret is kept."""

    class Kind(models.TextChoices):
        USER = "user", "User"
        AGENT = "agent", "Agent"

    principal = models.CharField(max_length=150, db_index=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.USER)
    # Public, unique part of the token (``cio_<prefix>_<secret>``): finds the row in O(1).
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list, help_text='e.g. ["read", "config:write"]')
    description = models.CharField(max_length=200, blank=True, default="")
    created_by = models.CharField(max_length=150, default="system")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True, default="")
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.principal} ({self.kind}) cio_{self.prefix}_…"


class AgentEnvelope(models.Model):
    """What one agent principal may change on its own: parameters, step sizes, frequency."""

    principal = models.CharField(max_length=150, unique=True)
    enabled = models.BooleanField(default=True)
    parameters = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            'Per parameter the agent may change: {"leverage": {"max_step": 0.25, '
            '"max_daily": 0.5, "min_interval_s": 3600}}; max_step/max_daily are relative '
            "loosening (0.25 = 25%), null = unlimited."
        ),
    )
    max_changes_per_day = models.PositiveIntegerField(default=20)
    may_resume = models.BooleanField(
        default=False, help_text="May move a scope to a less restrictive trading state."
    )
    scope_kinds = models.JSONField(
        default=list, blank=True, help_text="Scope kinds where it may loosen; empty = all."
    )
    approval_ttl_s = models.PositiveIntegerField(default=86400)
    notes = models.TextField(blank=True, default="")
    updated_by = models.CharField(max_length=150, default="system")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"envelope of {self.principal}"


class PendingApproval(models.Model):
    """An agent's change that goes beyond its envelope, waiting for a staff decision."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved and applied"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        FAILED = "failed", "Approved but could not be applied"

    class Kind(models.TextChoices):
        CONFIG = "config", "Configuration change"
        STATE = "state", "Trading state change"

    principal = models.CharField(max_length=150, db_index=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    scope = models.CharField(max_length=180)
    payload = models.JSONField(
        default=dict, help_text="config: {patch, unset}; state: {state, expires_at}"
    )
    base_version = models.PositiveIntegerField(null=True, blank=True)
    changes = models.JSONField(default=list, help_text="[{parameter, before, after, ...}]")
    violations = models.JSONField(default=list, help_text="why it is outside the envelope")
    reason = models.TextField()
    thought_trace = models.TextField(blank=True, default="")
    trace_id = models.CharField(max_length=32, blank=True, default="", db_index=True)
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    decided_by = models.CharField(max_length=150, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    result_version = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"approval #{self.pk} {self.kind} {self.scope} by {self.principal}: {self.status}"


class FleetEndpoint(models.Model):
    """A bot's config API (the trade engine's ``/api/v1/config/...`` routes) kept in sync."""

    name = models.CharField(max_length=80, unique=True)
    base_url = models.URLField(help_text="e.g. http://tradeengine:8000 (no trailing path)")
    enabled = models.BooleanField(default=True)
    timeout_s = models.FloatField(default=5.0)
    max_attempts = models.PositiveIntegerField(default=8)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.base_url})"


class FleetDelivery(models.Model):
    """One push of one config version to one endpoint, with its retry state."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        SUPERSEDED = "superseded", "Superseded by a newer version"

    endpoint = models.ForeignKey(FleetEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    scope = models.CharField(max_length=180, db_index=True)
    config_version = models.PositiveIntegerField()
    policy_version = models.PositiveBigIntegerField(default=0)
    method = models.CharField(max_length=8, default="POST")
    path = models.CharField(max_length=300)
    body = models.JSONField(default=dict)
    trace_id = models.CharField(max_length=32, blank=True, default="")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = (
            models.Index(fields=["status", "next_attempt_at"], name="fleet_delivery_due"),
        )

    def __str__(self) -> str:
        return f"{self.scope} v{self.config_version} -> {self.endpoint_id}: {self.status}"
