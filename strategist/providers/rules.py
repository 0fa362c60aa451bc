"""The offline, deterministic brain (the default): the product runs with no LLM at all.

It reads the same context an LLM gets and answers in the same JSON, so its proposals go
through the same parser, auditor and governance path:

* volatility ``high`` / ``extreme`` fleet-wide, or a drawdown past half the reduce
  threshold: scale the global ``leverage`` and ``position_size_pct`` down towards
  regime targets (tightening always applies at once);
* back in ``calm`` / ``normal`` with no drawdown: restore them towards the defaults, one
  envelope step at a time and only for parameters in the strategist's envelope (so the
  rules brain never files approval requests by itself).
"""

from __future__ import annotations

import json
from typing import Any

from strategist.providers.base import ChatRequest, ChatResponse

# Per fleet volatility phase: fraction of the default each parameter may reach.
_TARGETS: dict[str, dict[str, float]] = {
    "extreme": {"leverage": 0.3, "position_size_pct": 0.5},
    "high": {"leverage": 0.6, "position_size_pct": 0.75},
}


def _target(name: str, default: float, factor: float) -> float | int:
    value = default * factor
    return max(1, int(value)) if name == "leverage" else round(value, 4)


class RulesProvider:
    """Deterministic policy proposals from the regime, drawdown and envelope."""

    name = "rules"
    model = "rules-v1"
    remote = False

    def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        return ChatResponse(text=json.dumps(self.propose(request.context)), model=self.model)

    def propose(self, context: dict[str, Any]) -> dict[str, Any]:
        regime = (context.get("regime") or {}).get("fleet") or {}
        phase = str(regime.get("volatility_phase", "normal"))
        portfolio = context.get("portfolio") or {}
        drawdown = float(portfolio.get("drawdown") or 0.0)
        config = context.get("config") or {}
        effective = config.get("global_effective") or {}
        defaults = config.get("defaults") or {}
        reduce_at = float((context.get("ladder") or {}).get("reduce_at") or 0.15)
        envelope = (context.get("envelope") or {}).get("parameters") or {}
        stressed = phase in _TARGETS or drawdown >= reduce_at / 2
        factors = _TARGETS.get(phase, {"leverage": 0.6, "position_size_pct": 0.75}) \
            if stressed else {}
        patch: dict[str, Any] = {}
        notes: list[str] = []
        for name in ("leverage", "position_size_pct"):
            default = defaults.get(name)
            current = effective.get(name, default)
            if not isinstance(default, int | float) or not isinstance(current, int | float):
                continue
            if stressed:
                target = _target(name, float(default), factors[name])
                if current > target:
                    patch[name] = target
                    notes.append(f"{name} {current} -> {target} (tighten)")
            elif current < default and name in envelope:
                step = envelope[name].get("max_step")
                ceiling = float(default) if step is None else float(current) * (1 + step)
                target = min(float(default), ceiling)
                value: float | int = int(target) if name == "leverage" else round(target, 4)
                if value > current:
                    patch[name] = value
                    notes.append(f"{name} {current} -> {value} (restore)")
        why = (f"Fleet volatility phase is {phase} (vol ratio {regime.get('vol_ratio')}, 1h "
               f"move {regime.get('move_1h')}); portfolio drawdown {drawdown:.2%} against a "
               f"reduce threshold of {reduce_at:.0%}. ")
        if not patch:
            return {"summary": f"no change: regime {phase}, drawdown {drawdown:.2%}",
                    "thought_trace": why + "The current global risk parameters already match "
                    "the deterministic targets for this regime, so nothing changes.",
                    "confidence": 0.9, "patches": [], "state_changes": []}
        direction = "tighten" if stressed else "restore"
        return {
            "summary": f"{direction} global risk for a {phase} regime: " + "; ".join(notes),
            "thought_trace": why + ("Stressed markets widen losses per unit of size, so the "
                                    "rules brain scales leverage and position size down to the "
                                    "regime targets: " if stressed else
                                    "Conditions are back to normal, so size is restored one "
                                    "envelope step towards the defaults: ")
            + "; ".join(notes) + ".",
            "confidence": 0.8,
            "patches": [{"scope": "global", "patch": patch}],
            "state_changes": [],
        }
