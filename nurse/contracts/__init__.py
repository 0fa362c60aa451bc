"""Wire contracts of the intent gate ("Nurse"): pydantic v2 models and the hot-path parser.

- ``Signal`` / ``signal_to_json_bytes``: what the trade engine consumes, byte-compatible.
- ``Intent`` / ``parse_intent``: what strategies send; refusals are ``IntentRejected``.
- ``Decision``, ``ReasonCode``, ``Heartbeat``, ``PolicyUpdated``: what the Nurse emits.
- ``Envelope`` and helpers: the reply shape of every request/reply door.
"""

from __future__ import annotations

from nurse.contracts._common import (
    ACTIONS,
    Action,
    ConditionalDirection,
    OrderType,
    SignalStrength,
    SignalType,
    StrategyMode,
    TimeInForce,
    is_valid_traceparent,
    parse_iso_timestamp,
    to_utc,
)
from nurse.contracts.engine_signal import (
    ENGINE_COMMIT,
    SIGNAL_FIELDS,
    SIGNAL_REQUIRED_FIELDS,
    Signal,
    signal_from_json,
    signal_to_json_bytes,
    trace_context_of,
)
from nurse.contracts.envelope import (
    Envelope,
    ErrorBody,
    envelope_error,
    envelope_from_error,
    envelope_ok,
)
from nurse.contracts.errors import (
    CONTRACT_REASON_CODES,
    ContractCode,
    IntentRejected,
    rejection_from_validation_error,
)
from nurse.contracts.events import (
    SIGNAL_SUBJECT_PATTERN,
    Decision,
    DecisionCounters,
    Dependencies,
    GovernanceStatus,
    Heartbeat,
    Outcome,
    PolicyUpdated,
    ReasonCode,
)
from nurse.contracts.intent import (
    DEFAULT_FUTURE_SKEW_S,
    DEFAULT_MAX_AGE_S,
    DEFAULT_MAX_BYTES,
    INTENT_REQUIRED_FIELDS,
    SIDE_ALIASES,
    Intent,
    parse_intent,
)

__all__ = [
    "ACTIONS",
    "CONTRACT_REASON_CODES",
    "DEFAULT_FUTURE_SKEW_S",
    "DEFAULT_MAX_AGE_S",
    "DEFAULT_MAX_BYTES",
    "ENGINE_COMMIT",
    "INTENT_REQUIRED_FIELDS",
    "SIDE_ALIASES",
    "SIGNAL_FIELDS",
    "SIGNAL_REQUIRED_FIELDS",
    "SIGNAL_SUBJECT_PATTERN",
    "Action",
    "ConditionalDirection",
    "ContractCode",
    "Decision",
    "DecisionCounters",
    "Dependencies",
    "Envelope",
    "ErrorBody",
    "GovernanceStatus",
    "Heartbeat",
    "Intent",
    "IntentRejected",
    "OrderType",
    "Outcome",
    "PolicyUpdated",
    "ReasonCode",
    "Signal",
    "SignalStrength",
    "SignalType",
    "StrategyMode",
    "TimeInForce",
    "envelope_error",
    "envelope_from_error",
    "envelope_ok",
    "is_valid_traceparent",
    "parse_intent",
    "parse_iso_timestamp",
    "rejection_from_validation_error",
    "signal_from_json",
    "signal_to_json_bytes",
    "to_utc",
    "trace_context_of",
]
