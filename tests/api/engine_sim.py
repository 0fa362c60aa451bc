"""A loopback HTTP server that speaks the trade engine's config routes (for fleet sync tests).

It implements ``POST /api/v1/config/trading[/{symbol}[/{side}]]`` and ``PUT
/api/v1/config/filters/strategy/{id}`` with the engine's semantics (whole-scope replace,
unknown keys and nulls refused with ``success: false``), plus the GET routes, and can be
scripted to answer the next requests with 429 (``retry_after``) or 5xx.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from governance.catalog import CATALOG

ENGINE_KEYS = frozenset(n for n, s in CATALOG.items() if s.engine_schema)
_TRADING = re.compile(r"^/api/v1/config/trading(?:/([A-Z0-9]+))?(?:/(LONG|SHORT))?$")
_STRATEGY = re.compile(r"^/api/v1/config/filters/strategy/([A-Za-z0-9_.:\-]+)$")


@dataclass
class EngineState:
    """What the simulated engine stores and received."""

    scopes: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Scripted answers for the next requests: (status, body, headers).
    script: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    state: EngineState

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
               ) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _scope(self) -> str | None:
        match = _TRADING.match(self.path)
        if match:
            symbol, side = match.groups()
            if symbol and side:
                return f"symbol_side:{symbol}:{side}"
            return f"symbol:{symbol}" if symbol else "global"
        match = _STRATEGY.match(self.path)
        return f"strategy:{match.group(1)}" if match else None

    def _write(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with self.state.lock:
            self.state.requests.append({"method": self.command, "path": self.path,
                                        "body": body, "headers": dict(self.headers)})
            if self.state.script:
                status, reply, headers = self.state.script.pop(0)
                self._reply(status, reply, headers)
                return
        scope = self._scope()
        if scope is None:
            self._reply(404, {"detail": "Not Found"})
            return
        params = body.get("filters" if scope.startswith("strategy:") else "parameters")
        errors = [{"field": k, "message": "unknown parameter", "code": "UNKNOWN_PARAMETER"}
                  for k in (params or {}) if k not in ENGINE_KEYS]
        errors += [{"field": k, "message": "null", "code": "INVALID_TYPE"}
                   for k, v in (params or {}).items() if v is None]
        if not isinstance(params, dict) or not body.get("changed_by") or errors:
            self._reply(200, {"success": False, "data": None, "error": {
                "code": "VALIDATION_ERROR", "message": "invalid", "details": {"errors": errors}}})
            return
        with self.state.lock:
            self.state.scopes[scope] = dict(params)
            self.state.versions[scope] = self.state.versions.get(scope, 0) + 1
            version = self.state.versions[scope]
        self._reply(200, {"success": True, "data": {"parameters": params, "version": version,
                                                    "source": "mongodb"}, "error": None})

    def do_POST(self) -> None:
        self._write()

    def do_PUT(self) -> None:
        self._write()

    def do_GET(self) -> None:
        scope = self._scope()
        with self.state.lock:
            params = self.state.scopes.get(scope or "", {})
        self._reply(200, {"success": True, "data": {"parameters": params}, "error": None})


class EngineSim:
    """Start with ``with EngineSim() as engine:``; ``engine.url`` is the base URL."""

    def __init__(self) -> None:
        self.state = EngineState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> EngineSim:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
