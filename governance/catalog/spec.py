"""The shape of one catalog entry: the engine's facts plus our documentation for an LLM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ParamType = Literal["integer", "float", "boolean", "string", "dict", "list"]
RiskDirection = Literal["higher_is_riskier", "lower_is_riskier", "neutral"]
Owner = Literal["engine", "cio"]

PARAM_TYPES: tuple[ParamType, ...] = ("integer", "float", "boolean", "string", "dict", "list")
RISK_DIRECTIONS: tuple[RiskDirection, ...] = ("higher_is_riskier", "lower_is_riskier", "neutral")
OWNERS: tuple[Owner, ...] = ("engine", "cio")


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    """One trading-configuration parameter: type, default, bounds, risk semantics and docs.

    ``default`` is immutable (a ``MappingProxyType`` for dicts, a tuple for lists) so the
    shared catalog cannot be corrupted; ``catalog_defaults()`` hands out mutable copies.

    Risk semantics, used to decide whether a change loosens or tightens risk:

    * numbers: ``risk_direction`` says which way is riskier; ``zero_means_unlimited`` marks
      parameters where 0 disables the limit (0 is then the loosest value);
    * booleans: ``riskier_value`` names the riskier value (``risk_direction`` agrees with it:
      True riskier => "higher_is_riskier", since True > False), None when neither is;
    * strings: ``risk_order`` lists the allowed values from safest to riskiest, None when
      the choice is risk-neutral;
    * ``allowed_symbols``: adding symbols loosens, the empty list (no restriction) is loosest.
    """

    name: str
    type: ParamType
    default: Any
    minimum: int | float | None
    maximum: int | float | None
    allowed: tuple[str, ...] | None
    category: str
    unit: str
    description: str
    raise_when: str
    lower_when: str
    risk_impact: str
    risk_direction: RiskDirection
    owner: Owner
    engine_schema: bool
    riskier_value: bool | None = None
    risk_order: tuple[str, ...] | None = None
    zero_means_unlimited: bool = False
    engine_notes: str = ""

    @property
    def nullable(self) -> bool:
        """Parameters whose default is None (meaning "not set") accept None."""
        return self.default is None
