"""The operation registry: one entry per governance operation, served by every door.

An operation names its input model, output model, required scope and risk hints, and a
handler that calls one service or selector. The HTTP routes call ``execute`` with the
operation's name; the MCP server lists every operation with ``agent=True`` as a tool
(schema from the input model, description from the registry and the parameter catalog).
Registering an operation with ``agent=True`` is all it takes to expose it to agents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from governance.api.ratelimit import rate_limit_write
from governance.auth import Principal
from governance.errors import CioError, NotFound

InT = TypeVar("InT", bound=BaseModel)
Door = Literal["api", "mcp", "internal"]


@dataclass(frozen=True, slots=True)
class Call:
    """Who calls, through which door, under which trace id."""

    principal: Principal
    trace_id: str
    door: Door = "api"


@dataclass(frozen=True, slots=True)
class Result:
    """An operation's data (a pydantic model or JSON value) and the HTTP status to use."""

    data: Any
    status: int = 200


class NotYetAvailable(CioError):
    """The operation is listed (so agents can plan for it) but its feature has not landed."""

    code = "NOT_YET_AVAILABLE"
    http_status = 404


@dataclass(frozen=True, slots=True)
class Operation(Generic[InT]):
    """One operation. ``read_only``/``destructive``/``idempotent``/``open_world`` become the
    MCP tool annotations, so they must tell the truth."""

    name: str
    title: str
    description: str
    input: type[InT]
    output: type[BaseModel] | None
    scope: str
    handler: Callable[[Call, InT], Result]
    agent: bool = True
    read_only: bool = True
    destructive: bool = False
    idempotent: bool = True
    open_world: bool = False
    # Writes that must never wait for the rate limiter (a halt is always welcome).
    rate_limit_exempt: Callable[[InT], bool] | None = None

    @property
    def mutating(self) -> bool:
        return not self.read_only


OPERATIONS: dict[str, Operation[Any]] = {}


def register(op: Operation[InT]) -> Operation[InT]:
    if op.name in OPERATIONS:
        raise ValueError(f"operation {op.name!r} is already registered")
    OPERATIONS[op.name] = op
    return op


def replace_handler(name: str, handler: Callable[[Call, Any], Result]) -> None:
    """Let a later feature (regime, earnings, memory) take over a placeholder operation."""
    op = OPERATIONS[name]
    OPERATIONS[name] = Operation(
        name=op.name, title=op.title, description=op.description, input=op.input,
        output=op.output, scope=op.scope, handler=handler, agent=op.agent,
        read_only=op.read_only, destructive=op.destructive, idempotent=op.idempotent,
        open_world=op.open_world, rate_limit_exempt=op.rate_limit_exempt,
    )


def get_operation(name: str) -> Operation[Any]:
    op = OPERATIONS.get(name)
    if op is None:
        raise NotFound(f"unknown operation {name!r}", code="UNKNOWN_OPERATION")
    return op


def execute(name: str, call: Call, args: BaseModel) -> Result:
    """Run one operation for one caller: scope check, write rate limit, then the handler."""
    op = get_operation(name)
    call.principal.require(op.scope)
    if op.mutating and not (op.rate_limit_exempt and op.rate_limit_exempt(args)):
        rate_limit_write(call.principal.name)
    return op.handler(call, args)
