"""MCP tools generated from the operation registry (``governance.api.registry``).

Every operation registered with ``agent=True`` is a tool: its input schema is the
operation's pydantic input model (configuration values typed by the parameter catalog's
JSON Schema), its description comes from the registry, and its annotations from the
operation's risk flags. A call validates the arguments, runs the same ``execute`` as the
HTTP API, and answers with the same envelope; every failure is an error *result* carrying a
stable code (never a protocol error, never a crash).
"""

from __future__ import annotations

import json
import logging
from functools import cache
from typing import Any, Final

import mcp_types as types
from django.db import close_old_connections
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from governance.api import ops  # noqa: F401  (registers the operations)
from governance.api.registry import OPERATIONS, Call, Operation, execute
from governance.api.responses import pydantic_errors
from governance.api.schemas import Envelope
from governance.auth import SCOPES, Principal
from governance.errors import CioError
from governance.services import MIN_THOUGHT_TRACE

logger = logging.getLogger(__name__)

UNKNOWN_TOOL: Final = "UNKNOWN_TOOL"
INVALID_ARGUMENTS: Final = "INVALID_ARGUMENTS"
THOUGHT_TRACE_REQUIRED: Final = "THOUGHT_TRACE_REQUIRED"
INTERNAL_ERROR: Final = "INTERNAL_ERROR"


def agent_operations() -> dict[str, Operation[Any]]:
    return {name: op for name, op in sorted(OPERATIONS.items()) if op.agent}


_SCHEMAS: dict[tuple[str, bool], dict[str, Any]] = {}


def input_schema(op: Operation[Any]) -> dict[str, Any]:
    """The operation's input JSON Schema; mutating tools require a long thought_trace.

    Cached: the SDK asks for a tool's schema on every call (Mcp-Param header checks)."""
    key = (op.name, op.mutating)
    if key not in _SCHEMAS:
        _SCHEMAS[key] = _build_input_schema(op.input, op.mutating)
    return _SCHEMAS[key]


def _build_input_schema(model: type[BaseModel], mutating: bool) -> dict[str, Any]:
    schema: dict[str, Any] = model.model_json_schema()
    schema.pop("title", None)
    if mutating and "thought_trace" in schema.get("properties", {}):
        prop = dict(schema["properties"]["thought_trace"])
        prop["minLength"] = MIN_THOUGHT_TRACE
        prop.pop("default", None)
        schema["properties"]["thought_trace"] = prop
        schema["required"] = sorted({*schema.get("required", []), "thought_trace"})
    return schema


@cache
def _output_schema(model: Any) -> dict[str, Any]:
    envelope: type[BaseModel] = Envelope[model] if model is not None else Envelope[Any]
    schema: dict[str, Any] = envelope.model_json_schema(mode="serialization")
    schema.pop("title", None)
    return schema


def _description(op: Operation[Any]) -> str:
    kind = "read-only" if op.read_only else "changes state"
    return (f"{op.description}\n\nScope needed: {op.scope} ({SCOPES.get(op.scope, '')}); "
            f"{kind}. The result is the envelope {{success, data, trace_id, error}}; on "
            "failure error.code is a stable code (e.g. STALE_VERSION, CONFIG_INVALID, "
            "HARD_GATE_VIOLATION, THOUGHT_TRACE_REQUIRED, INVALID_ARGUMENTS).")


def tool_input_schema(name: str) -> dict[str, Any] | None:
    """The input schema of one tool (None for an unknown name), without building the list."""
    op = agent_operations().get(name)
    return None if op is None else input_schema(op)


def tool_list() -> list[types.Tool]:
    tools = []
    for op in agent_operations().values():
        tools.append(types.Tool(
            name=op.name,
            title=op.title,
            description=_description(op),
            input_schema=input_schema(op),
            output_schema=_output_schema(op.output),
            annotations=types.ToolAnnotations(
                title=op.title,
                read_only_hint=op.read_only,
                destructive_hint=op.destructive and not op.read_only,
                idempotent_hint=op.idempotent,
                open_world_hint=op.open_world,
            ),
        ))
    return tools


def _result(envelope: dict[str, Any]) -> types.CallToolResult:
    error = envelope.get("error")
    if error:
        text = f"{error['code']}: {error['message']}"
        if error.get("details"):
            text += "\n" + json.dumps(error["details"], default=str)
    else:
        text = json.dumps(envelope["data"], default=str, separators=(",", ":"))
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=envelope,
        is_error=bool(error),
    )


def error_result(code: str, message: str, trace_id: str, details: Any = None
                 ) -> types.CallToolResult:
    return _result({"success": False, "data": None, "trace_id": trace_id,
                    "error": {"code": code, "message": message,
                              "details": details if details is not None else {}}})


def call_tool(name: str, arguments: dict[str, Any] | None, *, principal: Principal,
              trace_id: str) -> types.CallToolResult:
    """Run one tool call synchronously (the caller moves it off the event loop)."""
    op = agent_operations().get(name)
    if op is None:
        return error_result(UNKNOWN_TOOL, f"no tool named {name!r}", trace_id,
                            {"available": sorted(agent_operations())})
    args = arguments or {}
    if op.mutating:
        trace = args.get("thought_trace")
        length = len(trace.strip()) if isinstance(trace, str) else 0
        if length < MIN_THOUGHT_TRACE:
            return error_result(
                THOUGHT_TRACE_REQUIRED,
                f"{name} changes state: give a thought_trace of at least {MIN_THOUGHT_TRACE} "
                "characters explaining what you observed and why this change", trace_id,
                {"min_length": MIN_THOUGHT_TRACE, "length": length})
    try:
        model = op.input.model_validate(args)
    except ValidationError as exc:
        return error_result(INVALID_ARGUMENTS, f"the arguments do not match {name}'s input "
                            "schema", trace_id, {"errors": pydantic_errors(exc.errors())})
    close_old_connections()
    try:
        result = execute(name, Call(principal=principal, trace_id=trace_id, door="mcp"), model)
    except CioError as exc:
        return error_result(exc.code, exc.message, trace_id, exc.details)
    except Exception:  # a bug must reach the agent as a stable code, not as a crash
        logger.exception("MCP tool %s failed (trace %s)", name, trace_id)
        return error_result(INTERNAL_ERROR, "internal error; quote the trace_id", trace_id)
    finally:
        close_old_connections()
    data = to_jsonable_python(result.data, by_alias=False)
    return _result({"success": True, "data": data, "trace_id": trace_id, "error": None})
