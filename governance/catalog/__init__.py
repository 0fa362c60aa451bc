"""The trading-configuration parameter catalog owned by the governance service.

It joins the trade engine's facts about its 37 parameters (names, types, defaults, ranges,
allowed values; ``parameters.py``) with our own documentation for an LLM operator and the
CIO-owned parameters that only our intent gate enforces, and validates configurations
against them.

Public API::

    ParameterSpec, CATALOG, ENGINE_SCHEMA_NAMES, CIO_NAMES
    catalog_defaults() -> dict            # fresh copy of every default
    validate_patch(patch) -> dict         # per-key checks, all errors at once
    validate_full(params) -> dict         # + defaults for absent keys + cross-field rules
    is_loosening(name, old, new) -> bool
    change_magnitude(name, old, new) -> float | None
    catalog_as_json_schema() -> dict      # JSON Schema for MCP tools / API
    parameter_doc(name) -> dict           # one parameter, for an LLM

Errors are ``governance.errors.ValidationFailed`` with code ``CONFIG_INVALID`` and
``details={"errors": [{"parameter", "code", "message"}, ...]}``; per-parameter codes are
UNKNOWN_PARAMETER, INVALID_TYPE, OUT_OF_RANGE and INVALID_VALUE.
"""

from __future__ import annotations

from governance.catalog.parameters import CATALOG, CIO_NAMES, ENGINE_COMMIT, ENGINE_SCHEMA_NAMES
from governance.catalog.risk import change_magnitude, is_loosening, loosening_rule
from governance.catalog.schema import catalog_as_json_schema, parameter_doc
from governance.catalog.spec import (
    OWNERS,
    PARAM_TYPES,
    RISK_DIRECTIONS,
    Owner,
    ParameterSpec,
    ParamType,
    RiskDirection,
)
from governance.catalog.validation import (
    CONFIG_INVALID,
    CROSS_FIELD_RULES,
    INVALID_TYPE,
    INVALID_VALUE,
    NON_FIELD,
    OUT_OF_RANGE,
    SYMBOL_RE,
    UNKNOWN_PARAMETER,
    catalog_defaults,
    get_spec,
    validate_full,
    validate_patch,
)

__all__ = [
    "CATALOG",
    "CIO_NAMES",
    "CONFIG_INVALID",
    "CROSS_FIELD_RULES",
    "ENGINE_COMMIT",
    "ENGINE_SCHEMA_NAMES",
    "INVALID_TYPE",
    "INVALID_VALUE",
    "NON_FIELD",
    "OUT_OF_RANGE",
    "OWNERS",
    "PARAM_TYPES",
    "RISK_DIRECTIONS",
    "SYMBOL_RE",
    "UNKNOWN_PARAMETER",
    "Owner",
    "ParamType",
    "ParameterSpec",
    "RiskDirection",
    "catalog_as_json_schema",
    "catalog_defaults",
    "change_magnitude",
    "get_spec",
    "is_loosening",
    "loosening_rule",
    "parameter_doc",
    "validate_full",
    "validate_patch",
]
