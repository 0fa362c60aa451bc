"""Which blocked decisions count as shadow positions.

A blocked ``buy``/``sell`` becomes a shadow position unless one of its reasons says it was
never a distinct, tradeable entry:

- ``CONTRACT_*``: the payload did not parse; there is no trustworthy price or size.
- ``DUPLICATE_SIGNAL_ID`` / ``DUPLICATE_CONTENT``: the original was decided already (and is
  counted there); counting the copy would double the shadow.
- ``GATE_TIMEOUT`` / ``GATE_OVERLOAD`` / ``GATE_ERROR``: answered ``RETRY_SAFE``; the sender
  retries and the retry is decided (and counted) on its own.

Everything else counts, operational blocks included (``EXPOSURE_STATE_UNAVAILABLE``,
``AUDIT_UNAVAILABLE``, ``POLICY_MISSING``): an outage that stops a trade costs or saves money
like any rule does. ``hold`` and ``close`` never open exposure and are not tracked. A blocked
entry without a size (``EXPOSURE_UNKNOWN_SIZE`` with no notional) is skipped: a PnL would
need an invented size.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

EXCLUDED_CODES: frozenset[str] = frozenset(
    {"DUPLICATE_SIGNAL_ID", "DUPLICATE_CONTENT", "GATE_TIMEOUT", "GATE_OVERLOAD", "GATE_ERROR"})
EXCLUDED_PREFIXES: tuple[str, ...] = ("CONTRACT_",)
ENTRY_ACTIONS: dict[str, str] = {"buy": "LONG", "sell": "SHORT"}


def counts_as_shadow(action: str, codes: Iterable[str]) -> bool:
    """True when a blocked decision with these reason codes is tracked as a shadow."""
    if action not in ENTRY_ACTIONS:
        return False
    return not any(code in EXCLUDED_CODES or code.startswith(EXCLUDED_PREFIXES)
                   for code in codes)


@cache
def _code_to_rule() -> dict[str, str]:
    from nurse.rules import GATE_CODES, RULES

    mapping = {code: rule.name for rule in RULES for code in rule.codes}
    for code in GATE_CODES:
        mapping.setdefault(code, "ledger" if code.startswith(("RATE_", "EXPOSURE_"))
                           else "gate")
    return mapping


def rule_of(code: str) -> str:
    """The registered rule that emits ``code`` (``ledger``/``gate`` for the gate's own)."""
    return _code_to_rule().get(code, "contract" if code.startswith("CONTRACT_") else "other")
