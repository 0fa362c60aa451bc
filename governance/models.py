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
