"""The strategist's MCP tools: it takes over the placeholder operations ``get_regime`` and
``search_institutional_memory`` (``governance.api.registry.replace_handler``)."""

from __future__ import annotations

from typing import Any


def register_agent_operations() -> None:
    from governance.api import ops  # noqa: F401  (registers the placeholders)
    from governance.api.registry import OPERATIONS, Call, Result, replace_handler
    from governance.api.schemas import MemorySearchIn, RegimeIn

    def get_regime(call: Call, args: RegimeIn) -> Result:
        from strategist.selectors import portfolio_get, regime_get

        data: dict[str, Any] = regime_get(symbol=args.symbol.upper() if args.symbol else None)
        data["portfolio"] = portfolio_get()
        return Result(data)

    def search_institutional_memory(call: Call, args: MemorySearchIn) -> Result:
        from strategist.memory.services import hit_as_dict, memory_search

        hits = memory_search(query=args.query, limit=args.limit)
        return Result({"query": args.query, "results": [hit_as_dict(h) for h in hits]})

    if "get_regime" in OPERATIONS:
        replace_handler("get_regime", get_regime)
    if "search_institutional_memory" in OPERATIONS:
        replace_handler("search_institutional_memory", search_institutional_memory)
