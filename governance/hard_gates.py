"""Primal safety limits.

``CEILINGS`` live in code: nothing at run time (API, agent, admin) can move a limit beyond
them. The ``HardGate`` rows hold the values in force, which a superuser with a verified
second factor may set anywhere inside the ceilings through the admin; every other door can
only read them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from governance.errors import HardGateViolation, ValidationFailed

Direction = Literal["max", "min", "set"]
_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}$")


@dataclass(frozen=True, slots=True)
class HardGateSpec:
    """A hard limit: its code ceiling, default value and which way is safer."""

    key: str
    description: str
    unit: str
    default: Any
    # "max": value is an upper bound (lower is safer) and may not exceed ``ceiling``.
    # "min": value is a lower bound (higher is safer) and may not go below ``ceiling``.
    # "set": a symbol whitelist; empty means unrestricted.
    direction: Direction
    ceiling: float | None = None


SPECS: Mapping[str, HardGateSpec] = {
    spec.key: spec
    for spec in (
        HardGateSpec(
            "max_leverage",
            "Absolute leverage ceiling for any order and any config scope.",
            "x leverage",
            20,
            "max",
            50,
        ),
        HardGateSpec(
            "max_order_notional_usd",
            "Largest notional (quantity x price) of a single new order.",
            "USD",
            25_000.0,
            "max",
            250_000.0,
        ),
        HardGateSpec(
            "max_fleet_exposure_usd",
            "Largest total open notional across the whole fleet.",
            "USD",
            100_000.0,
            "max",
            1_000_000.0,
        ),
        HardGateSpec(
            "max_position_size_pct",
            "Largest position_size_pct (fraction of capital) any signal may carry.",
            "fraction",
            0.25,
            "max",
            0.5,
        ),
        HardGateSpec(
            "drawdown_reduce_pct",
            "Drawdown from peak equity at which the fleet goes REDUCING (Halt & Protect).",
            "fraction",
            0.15,
            "max",
            0.15,
        ),
        HardGateSpec(
            "drawdown_halt_pct",
            "Drawdown from peak equity at which the fleet is HALTED (nuclear alert).",
            "fraction",
            0.20,
            "max",
            0.20,
        ),
        HardGateSpec(
            "min_confidence",
            "Lowest strategy confidence that may ever open exposure.",
            "fraction",
            0.0,
            "min",
            0.0,
        ),
        HardGateSpec(
            "allowed_symbols",
            "Symbols that may ever be traded; an empty list means no restriction.",
            "symbols",
            [],
            "set",
        ),
    )
}


def hard_gate_defaults() -> dict[str, Any]:
    return {key: (list(spec.default) if isinstance(spec.default, list) else spec.default)
            for key, spec in SPECS.items()}


def hard_gate_check_value(key: str, value: Any) -> Any:
    """Validate one hard-gate value against its code ceiling; returns the clean value."""
    spec = SPECS.get(key)
    if spec is None:
        raise ValidationFailed(f"unknown hard gate {key!r}", code="UNKNOWN_HARD_GATE")
    if spec.direction == "set":
        if not isinstance(value, list) or not all(
            isinstance(s, str) and _SYMBOL_RE.match(s) for s in value
        ):
            raise ValidationFailed(f"{key} must be a list of symbols", code="INVALID_VALUE")
        return sorted(set(value))
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationFailed(f"{key} must be a finite number", code="INVALID_TYPE")
    assert spec.ceiling is not None  # noqa: S101  (numeric specs always carry one)
    if spec.direction == "max" and (value > spec.ceiling or value <= 0):
        raise HardGateViolation(
            f"{key}={value} is outside (0, {spec.ceiling}] set in code",
            details={"key": key, "value": value, "ceiling": spec.ceiling},
        )
    if spec.direction == "min" and not (spec.ceiling <= value <= 1):
        raise HardGateViolation(
            f"{key}={value} is below the code floor {spec.ceiling}",
            details={"key": key, "value": value, "floor": spec.ceiling},
        )
    return type(spec.default)(value)


# Config parameter -> (hard gate key, relation). A config value that breaks the relation is
# refused for every writer, so no scope can ever be configured beyond a hard gate.
_CONFIG_BOUNDS: Mapping[str, tuple[str, Literal["le", "ge"]]] = {
    "leverage": ("max_leverage", "le"),
    "max_leverage_bound": ("max_leverage", "le"),
    "max_position_size_usd": ("max_order_notional_usd", "le"),
    "max_fleet_exposure_usd": ("max_fleet_exposure_usd", "le"),
    "max_symbol_exposure_usd": ("max_fleet_exposure_usd", "le"),
    "max_strategy_exposure_usd": ("max_fleet_exposure_usd", "le"),
    "position_size_pct": ("max_position_size_pct", "le"),
    "drawdown_reduce_pct": ("drawdown_reduce_pct", "le"),
    "drawdown_halt_pct": ("drawdown_halt_pct", "le"),
    "min_confidence_threshold": ("min_confidence", "ge"),
}


def hard_gate_check_config(params: Mapping[str, Any], gates: Mapping[str, Any]) -> None:
    """Refuse config values beyond the hard gates in force (HARD_GATE_VIOLATION)."""
    problems: list[dict[str, Any]] = []
    for name, (gate_key, relation) in _CONFIG_BOUNDS.items():
        value = params.get(name)
        limit = gates.get(gate_key)
        if value is None or limit is None:
            continue
        broken = value > limit if relation == "le" else value < limit
        if broken:
            problems.append(
                {"parameter": name, "value": value, "hard_gate": gate_key, "limit": limit,
                 "code": "HARD_GATE_VIOLATION"}
            )
    allowed = gates.get("allowed_symbols") or []
    symbols = params.get("allowed_symbols")
    if allowed and symbols:
        outside = sorted(set(symbols) - set(allowed))
        if outside:
            problems.append(
                {"parameter": "allowed_symbols", "value": outside, "hard_gate": "allowed_symbols",
                 "limit": allowed, "code": "HARD_GATE_VIOLATION"}
            )
    if problems:
        raise HardGateViolation(
            "the change goes beyond the hard safety gates", details={"errors": problems}
        )
