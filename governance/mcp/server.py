"""The MCP server (official ``mcp`` SDK, low-level ``Server``): tools from the registry.

The low-level server is used on purpose: tools are generated from the operation registry
(schemas from pydantic, not from Python signatures), and every failure must reach the agent
as a result with a stable code, which the high-level ``MCPServer`` would rewrite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types
from asgiref.sync import sync_to_async
from django.conf import settings
from mcp.server.lowlevel.server import Server

from governance.api.tracing import new_trace_id, trace_id_from_traceparent
from governance.auth import Principal
from governance.mcp.tools import call_tool, error_result, tool_input_schema, tool_list

INSTRUCTIONS = (
    "Petrosa CIO governance. Read before you write: get_parameter_schema (units and risk "
    "of every parameter), get_trading_config (effective values and the `version` to use as "
    "base_version), get_agent_envelope (what you may change on your own). Always "
    "validate_config_patch before apply_config_patch. Every change needs a reason and a "
    "thought_trace of at least 100 characters. Tightening risk applies at once; loosening "
    "beyond your envelope becomes a pending approval for a human (list_pending_approvals). "
    "Hard gates cannot be changed by agents."
)

PrincipalResolver = Callable[[types.CallToolRequestParams, Any], Principal | None]


def _principal_from_request(params: types.CallToolRequestParams, request: Any
                            ) -> Principal | None:
    state = getattr(request, "state", None)
    principal = getattr(state, "cio_principal", None) if state is not None else None
    return principal if isinstance(principal, Principal) else None


def _trace_id(params: types.CallToolRequestParams, request: Any) -> str:
    """1. a traceparent the caller set on the HTTP request; 2. the one in ``_meta`` (the MCP
    SDK injects its own client span there whenever OpenTelemetry is active); 3. a new id."""
    state = getattr(request, "state", None)
    from_http = getattr(state, "cio_trace_id", None) if state is not None else None
    if getattr(state, "cio_trace_explicit", False) and isinstance(from_http, str):
        return from_http
    meta = params.meta if isinstance(params.meta, dict) else {}
    from_meta = trace_id_from_traceparent(str(meta.get("traceparent") or "")) if meta else None
    if from_meta:
        return from_meta
    return from_http if isinstance(from_http, str) and from_http else new_trace_id()


def build_server(*, default_principal: Principal | None = None) -> Server[Any]:
    """A server whose tool calls run as the HTTP request's principal (or ``default_principal``
    over stdio)."""

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None
                         ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tool_list())

    async def handle_call(ctx: Any, params: types.CallToolRequestParams
                          ) -> types.CallToolResult:
        request = getattr(ctx, "request", None)
        trace_id = _trace_id(params, request)
        principal = _principal_from_request(params, request) or default_principal
        if principal is None:
            return error_result("UNAUTHENTICATED", "no authenticated principal", trace_id)
        return await sync_to_async(call_tool, thread_sensitive=True)(
            params.name, params.arguments, principal=principal, trace_id=trace_id)

    return Server(
        "petrosa-cio",
        version=settings.CIO_VERSION,
        title="Petrosa CIO governance",
        instructions=INSTRUCTIONS,
        get_tool_input_schema=tool_input_schema,
        on_list_tools=list_tools,
        on_call_tool=handle_call,
    )
