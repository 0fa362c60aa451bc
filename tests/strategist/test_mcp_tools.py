"""The strategist's MCP tools through the operation registry (the MCP server's own path)."""

from __future__ import annotations

from typing import Any

import pytest

from governance.api.registry import Call, execute
from governance.api.schemas import MemorySearchIn, RegimeIn
from strategist.integration import strategist_principal
from strategist.memory.services import memory_add
from strategist.models import RegimeStatus

pytestmark = pytest.mark.django_db


def test_get_regime_and_memory_search_are_live(redis_client: Any) -> None:
    RegimeStatus.objects.create(symbol="BTCUSDT", volatility_phase="high", vol_ratio=2.1)
    call = Call(principal=strategist_principal(), trace_id="t" * 32, door="mcp")
    regime = execute("get_regime", call, RegimeIn(symbol="BTCUSDT")).data
    assert regime["symbols"]["BTCUSDT"]["volatility_phase"] == "high"
    assert "portfolio" in regime
    memory_add(kind="post_mortem", title="May crash", text="the crash halted the fleet")
    found = execute("search_institutional_memory", call,
                    MemorySearchIn(query="when did a crash halt us?", limit=3)).data
    assert found["results"][0]["title"] == "May crash"


@pytest.mark.django_db(transaction=True)  # call_tool closes old connections itself
def test_mcp_tool_call_end_to_end(redis_client: Any) -> None:
    from governance.mcp.tools import call_tool

    memory_add(kind="lesson", title="Funding squeeze", text="negative funding hurt shorts")
    result = call_tool("search_institutional_memory", {"query": "funding hurt our shorts"},
                       principal=strategist_principal(), trace_id="a" * 32)
    assert not result.is_error, result.content
    assert result.structured_content["data"]["results"][0]["title"] == "Funding squeeze"
