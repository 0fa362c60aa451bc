"""Risk semantics of a change: does it loosen risk, and how big is it (agent envelope)."""

from __future__ import annotations

import math
from typing import Any

from governance.catalog.spec import ParameterSpec
from governance.catalog.validation import clean_value, config_invalid, get_spec
from governance.errors import ValidationFailed


def _cleaned_pair(spec: ParameterSpec, old: Any, new: Any) -> tuple[Any, Any]:
    """Both values cleaned; every problem with either is reported at once."""
    errors: list[dict[str, str]] = []
    cleaned: list[Any] = []
    for label, value in (("old", old), ("new", new)):
        try:
            cleaned.append(clean_value(spec, value))
        except ValidationFailed as exc:
            errors.extend(
                {**e, "message": f"{label} value: {e['message']}"} for e in exc.details["errors"]
            )
    if errors:
        raise config_invalid(errors)
    return cleaned[0], cleaned[1]


def _numeric_rank(spec: ParameterSpec, value: int | float) -> float:
    # 0 disables the limit of such parameters, which makes it the loosest possible value.
    if spec.zero_means_unlimited and value == 0:
        return math.inf
    return float(value)


def is_loosening(name: str, old: Any, new: Any) -> bool:
    """Whether changing ``name`` from ``old`` to ``new`` increases risk.

    * risk-neutral parameters (``risk_direction="neutral"``) never loosen;
    * numbers follow ``risk_direction``; where ``zero_means_unlimited``, 0 is the loosest;
    * booleans loosen when ``new`` is the spec's ``riskier_value``;
    * strings loosen when ``new`` comes later than ``old`` in ``risk_order``;
    * ``allowed_symbols`` loosens when symbols are added or the list becomes empty
      (empty = unrestricted); removing symbols tightens.

    Both values are validated first (``ValidationFailed``, code CONFIG_INVALID, otherwise).
    """
    spec = get_spec(name)
    old, new = _cleaned_pair(spec, old, new)
    if spec.risk_direction == "neutral":
        return False
    if spec.type == "list":
        old_set, new_set = set(old), set(new)
        if not new_set:
            return bool(old_set)
        return bool(old_set) and bool(new_set - old_set)
    if old == new:
        return False
    if spec.type == "boolean":
        riskier = spec.riskier_value
        if riskier is None:
            riskier = spec.risk_direction == "higher_is_riskier"
        return bool(new == riskier)
    if spec.type == "string":
        order = spec.risk_order
        if order is None:
            return False
        return order.index(new) > order.index(old)
    if spec.type in ("integer", "float"):
        if old is None or new is None:
            # Moving to or from "not set" cannot be ordered: count it as loosening (safe side).
            return True
        old_rank, new_rank = _numeric_rank(spec, old), _numeric_rank(spec, new)
        if spec.risk_direction == "higher_is_riskier":
            return new_rank > old_rank
        return new_rank < old_rank
    # Weight maps are risk-neutral (a catalog invariant the tests check).
    return False


def _relative(old: float, new: float, *, unlimited_at_zero: bool = False) -> float:
    if old == new:
        return 0.0
    if old == 0 or (unlimited_at_zero and new == 0):
        # From zero (or, where 0 means "no limit", to or from it) no finite ratio exists.
        return math.inf
    return abs(new - old) / abs(old)


def change_magnitude(name: str, old: Any, new: Any) -> float | None:
    """The relative size of a change, ``|new - old| / |old|``, for the agent envelope.

    * numbers: the relative change (0.0 when equal; ``math.inf`` from 0, and to or from 0
      where 0 means "unlimited");
    * weight maps: the largest relative change of any weight; ``math.inf`` when keys are
      added or removed;
    * booleans, strings, ``allowed_symbols`` and changes to or from None are categorical:
      ``None`` (no relative size; judge them with ``is_loosening``), or 0.0 when nothing
      changed.

    Both values are validated first (``ValidationFailed``, code CONFIG_INVALID, otherwise).
    """
    spec = get_spec(name)
    old, new = _cleaned_pair(spec, old, new)
    if spec.type in ("integer", "float"):
        if old is None or new is None:
            return 0.0 if old is new else None
        return _relative(old, new, unlimited_at_zero=spec.zero_means_unlimited)
    if spec.type == "dict":
        if old.keys() != new.keys():
            return math.inf
        return max((_relative(old[k], new[k]) for k in old), default=0.0)
    unchanged = set(old) == set(new) if spec.type == "list" else old == new
    return 0.0 if unchanged else None


def loosening_rule(spec: ParameterSpec) -> str:
    """One sentence, for an LLM, saying which changes of ``spec`` loosen risk."""
    if spec.risk_direction == "neutral":
        return "Risk-neutral: no change to this parameter counts as loosening risk."
    if spec.type == "list":
        return (
            "Adding symbols, or emptying the list (= no restriction), loosens risk; removing "
            "symbols from a non-empty list tightens it."
        )
    if spec.type == "boolean":
        riskier = "true" if spec.riskier_value else "false"
        safer = "false" if spec.riskier_value else "true"
        return f"Setting it to {riskier} loosens risk; setting it to {safer} tightens it."
    if spec.type == "string" and spec.risk_order is not None:
        order = " < ".join(spec.risk_order)
        return f"Moving towards the later value in {order} loosens risk (safest first)."
    if spec.risk_direction == "higher_is_riskier":
        rule = "Raising it loosens risk; lowering it tightens it."
    else:
        rule = "Lowering it loosens risk; raising it tightens it."
    if spec.zero_means_unlimited:
        rule += " 0 disables the limit and is therefore the loosest value."
    return rule
