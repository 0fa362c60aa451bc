"""The policy a replay runs: the active one, the one in force at a version, or a patch.

``policy_snapshot_for`` returns a snapshot in the shape of
``governance.policy.policy_snapshot_build`` (what ``CompiledPolicy.from_snapshot`` reads):

- active: ``policy_snapshot_build()`` itself;
- ``version=N``: for every config scope the latest ``ConfigVersion`` with
  ``policy_version <= N``; hard gates and trading states replayed from the audit trail
  (``hard_gate.set`` / ``state.set`` events carrying ``policy_version <= N``) over the code
  defaults; ``N`` cannot be newer than the current policy version;
- ``patches``: ``{"scope": "global" | "symbol:X" | "strategy:X" | "symbol_side:X:LONG",
  "patch": {...}, "unset": [...]}`` (or a list of them) merged into the base snapshot the
  way ``governance.services.config_patch`` merges, validated by the same catalog and hard
  gate checks; nothing is written.

Trading states and the regime section describe the moment the snapshot was built, not the
replayed period, so ``replay_ready`` drops them unless asked to keep them: a replay starts
ACTIVE and its own drawdown ladder moves the global state.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from governance.catalog import catalog_defaults, validate_full, validate_patch
from governance.errors import NotFound, ValidationFailed
from governance.hard_gates import hard_gate_check_config, hard_gate_defaults
from governance.models import AuditEvent, ConfigVersion
from governance.policy import policy_snapshot_build
from governance.scopes import Scope, ScopeKind
from governance.selectors import policy_version_current


def policy_snapshot_as_of(version: int) -> dict[str, Any]:
    """The snapshot the gate would have run at fleet policy version ``version``."""
    with transaction.atomic():
        current = policy_version_current()
        if version < 0 or version > current:
            raise NotFound(f"policy version {version} does not exist (current {current})",
                           code="POLICY_VERSION_NOT_FOUND")
        scopes: dict[str, dict[str, Any]] = {}
        scope_versions: dict[str, int] = {}
        rows = (ConfigVersion.objects.filter(policy_version__lte=version)
                .order_by("scope_kind", "scope_key", "version"))
        for row in rows:
            key = str(Scope(ScopeKind(row.scope_kind), row.scope_key))
            scopes[key] = dict(row.params)
            scope_versions[key] = row.version
        gates = hard_gate_defaults()
        states: dict[str, dict[str, Any]] = {}
        events = AuditEvent.objects.filter(event_type__in=("hard_gate.set", "state.set")
                                           ).order_by("seq")
        for event in events:
            payload = event.payload if isinstance(event.payload, dict) else {}
            at = payload.get("policy_version")
            if not isinstance(at, int) or at > version:
                continue
            if event.event_type == "hard_gate.set":
                gates[str(payload.get("key"))] = payload.get("after")
            else:
                expires = payload.get("expires_at")
                states[event.scope] = {
                    "state": payload.get("after", "ACTIVE"), "reason": event.reason,
                    "set_by": event.actor,
                    "expires_at": (dt.datetime.fromisoformat(expires).timestamp()
                                   if isinstance(expires, str) else None)}
    return {
        "policy_version": version,
        "built_at": timezone.now().isoformat(),
        "defaults": catalog_defaults(),
        "scopes": {k: v for k, v in scopes.items() if v},
        "scope_versions": scope_versions,
        "states": states,
        "hard_gates": gates,
        "reconstructed": True,
    }


def load_patches(path: str | Path) -> list[dict[str, Any]]:
    """A patch file: one ``{"scope", "patch", "unset"?}`` object or a list of them."""
    data = json.loads(Path(path).read_text())
    items = data if isinstance(data, list) else [data]
    for item in items:
        if not isinstance(item, dict) or "scope" not in item or not isinstance(
                item.get("patch", {}), dict):
            raise ValidationFailed('a patch is {"scope": ..., "patch": {...}}',
                                   code="PATCH_INVALID")
    return items


def apply_patches(snapshot: Mapping[str, Any], patches: Sequence[Mapping[str, Any]]
                  ) -> dict[str, Any]:
    """A copy of ``snapshot`` with the patches merged and validated (nothing is stored)."""
    result: dict[str, Any] = json.loads(json.dumps(snapshot, default=str))
    scopes: dict[str, dict[str, Any]] = result.setdefault("scopes", {})
    gates = result.get("hard_gates") or hard_gate_defaults()
    applied: list[dict[str, Any]] = []
    for item in patches:
        scope = Scope.parse(str(item["scope"]))
        key = str(scope)
        clean = validate_patch(dict(item.get("patch") or {}))
        unset = [str(n) for n in item.get("unset") or []]
        unknown = [n for n in unset if n not in catalog_defaults()]
        if unknown:
            raise ValidationFailed("cannot unset unknown parameters", code="CONFIG_INVALID",
                                   details={"unknown": unknown})
        merged = {k: v for k, v in scopes.get(key, {}).items() if k not in set(unset)}
        merged.update(clean)
        effective = catalog_defaults()
        if scope.kind is not ScopeKind.GLOBAL:
            effective.update(scopes.get("global", {}))
        effective.update(merged)
        validate_full(effective)
        hard_gate_check_config(merged, gates)
        scopes[key] = merged
        applied.append({"scope": key, "patch": clean, "unset": unset})
    result["patches"] = applied
    return result


def policy_snapshot_for(*, version: int | None = None,
                        patches: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Active (default), as of ``version``, and/or with ``patches`` applied on top."""
    snapshot = policy_snapshot_as_of(version) if version is not None else \
        policy_snapshot_build()
    if patches:
        snapshot = apply_patches(snapshot, patches)
    return snapshot


def replay_ready(snapshot: Mapping[str, Any], *, keep_states: bool = False) -> dict[str, Any]:
    """Drop the trading states and regime of the build moment (see the module docstring)."""
    result = dict(snapshot)
    if not keep_states:
        result["states"] = {}
    result.pop("regime", None)
    return result
