"""JSON views of the catalog: a JSON Schema (MCP tool and API schemas) and per-parameter docs."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from governance.catalog.parameters import CATALOG, ENGINE_COMMIT
from governance.catalog.risk import loosening_rule
from governance.catalog.spec import ParameterSpec
from governance.catalog.validation import CROSS_FIELD_RULES, SYMBOL_RE
from governance.errors import NotFound

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_JSON_TYPES = {
    "integer": "integer",
    "float": "number",
    "boolean": "boolean",
    "string": "string",
    "dict": "object",
    "list": "array",
}


def _json_default(spec: ParameterSpec) -> Any:
    if isinstance(spec.default, Mapping):
        return dict(spec.default)
    if isinstance(spec.default, tuple):
        return list(spec.default)
    return spec.default


def _long_description(spec: ParameterSpec) -> str:
    parts = [
        spec.description,
        f"Unit: {spec.unit}.",
        f"Raise when: {spec.raise_when}",
        f"Lower when: {spec.lower_when}",
        f"Risk: {spec.risk_impact} {loosening_rule(spec)}",
    ]
    if spec.engine_notes:
        parts.append(f"Engine: {spec.engine_notes}")
    return " ".join(parts)


def _property_schema(spec: ParameterSpec) -> dict[str, Any]:
    json_type = _JSON_TYPES[spec.type]
    prop: dict[str, Any] = {
        "title": spec.name,
        "type": [json_type, "null"] if spec.nullable else json_type,
        "description": _long_description(spec),
        "default": _json_default(spec),
    }
    if spec.minimum is not None:
        prop["minimum"] = spec.minimum
    if spec.maximum is not None:
        prop["maximum"] = spec.maximum
    if spec.allowed is not None:
        prop["enum"] = list(spec.allowed)
    if spec.type == "dict":
        prop["additionalProperties"] = {"type": "number", "minimum": 0}
        prop["propertyNames"] = {"minLength": 1}
    if spec.type == "list":
        prop["items"] = {"type": "string", "pattern": f"^{SYMBOL_RE.pattern}$"}
        prop["uniqueItems"] = True
    # Annotations (unknown keywords are ignored by validators) for UIs and agents.
    prop["x-unit"] = spec.unit
    prop["x-category"] = spec.category
    prop["x-owner"] = spec.owner
    prop["x-engine-schema"] = spec.engine_schema
    prop["x-risk-direction"] = spec.risk_direction
    if spec.riskier_value is not None:
        prop["x-riskier-value"] = spec.riskier_value
    if spec.risk_order is not None:
        prop["x-risk-order"] = list(spec.risk_order)
    if spec.zero_means_unlimited:
        prop["x-zero-means-unlimited"] = True
    return prop


def catalog_as_json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) object describing a whole trading configuration.

    Each property carries type, description (with unit, when to raise/lower, risk and engine
    notes), default, minimum/maximum, enum and ``x-*`` annotations. JSON Schema cannot say
    that an integer must not be written as ``10.0`` nor express the cross-field rules (listed
    under ``x-cross-field-rules``): ``validate_full`` remains the authority. A fresh dict is
    returned on every call.
    """
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "Petrosa trading configuration",
        "description": (
            "Trading parameters governed by the Petrosa CIO. owner='engine' parameters are "
            "pushed to the trade engine's config API (engine commit "
            f"{ENGINE_COMMIT}); owner='cio' parameters are enforced by the CIO intent gate "
            "only. Mind the units: stop_loss_pct, take_profit_pct and slippage_tolerance_pct "
            "are percents (2.0 = 2%); position_size_pct, max_daily_loss_pct and "
            "max_portfolio_exposure_pct are fractions (0.05 = 5%)."
        ),
        "type": "object",
        "properties": {name: _property_schema(spec) for name, spec in CATALOG.items()},
        "additionalProperties": False,
        "x-cross-field-rules": list(CROSS_FIELD_RULES),
    }


def parameter_doc(name: str) -> dict[str, Any]:
    """Everything an LLM operator needs to know about one parameter, JSON-serialisable.

    An unknown name raises ``NotFound`` with code UNKNOWN_PARAMETER and close matches in
    ``details["suggestions"]``.
    """
    spec = CATALOG.get(name) if isinstance(name, str) else None
    if spec is None:
        suggestions = (
            difflib.get_close_matches(name, list(CATALOG), n=3, cutoff=0.6)
            if isinstance(name, str)
            else []
        )
        raise NotFound(
            f"unknown parameter {name!r}",
            code="UNKNOWN_PARAMETER",
            details={"parameter": name, "suggestions": suggestions},
        )
    return {
        "name": spec.name,
        "type": spec.type,
        "unit": spec.unit,
        "default": _json_default(spec),
        "minimum": spec.minimum,
        "maximum": spec.maximum,
        "allowed": list(spec.allowed) if spec.allowed is not None else None,
        "nullable": spec.nullable,
        "category": spec.category,
        "owner": spec.owner,
        "engine_schema": spec.engine_schema,
        "description": spec.description,
        "raise_when": spec.raise_when,
        "lower_when": spec.lower_when,
        "risk_impact": spec.risk_impact,
        "risk_direction": spec.risk_direction,
        "riskier_value": spec.riskier_value,
        "risk_order": list(spec.risk_order) if spec.risk_order is not None else None,
        "zero_means_unlimited": spec.zero_means_unlimited,
        "loosening_rule": loosening_rule(spec),
        "cross_field_rules": [rule for rule in CROSS_FIELD_RULES if spec.name in rule.split()],
        "engine_notes": spec.engine_notes,
    }
