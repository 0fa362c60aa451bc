"""Serve the MCP tools over stdio for desktop MCP clients (Claude Desktop, Inspector, ...).

The client starts ``python manage.py run_mcp_stdio`` and speaks JSON-RPC on stdin/stdout;
the process acts as the principal of an API token with the ``agent`` scope, given in
``CIO_MCP_TOKEN`` (or ``CIO_MCP_TOKEN_FILE``, or ``--token-file``). Logs go to stderr.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
from django.core.management.base import BaseCommand, CommandError, CommandParser
from mcp.server.stdio import stdio_server

from governance.auth import SCOPE_AGENT, Principal, Unauthenticated, api_token_authenticate
from governance.mcp.server import build_server


def _token(options: dict[str, Any]) -> str:
    if options.get("token_file"):
        return Path(options["token_file"]).read_text(encoding="utf-8").strip()
    if os.environ.get("CIO_MCP_TOKEN_FILE"):
        return Path(os.environ["CIO_MCP_TOKEN_FILE"]).read_text(encoding="utf-8").strip()
    return os.environ.get("CIO_MCP_TOKEN", "").strip()


class Command(BaseCommand):
    help = "Serve the governance MCP tools over stdio (token from CIO_MCP_TOKEN)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--token-file", default=None,
                            help="file holding the agent's API token")

    def handle(self, *args: Any, **options: Any) -> None:
        raw = _token(options)
        if not raw:
            raise CommandError("set CIO_MCP_TOKEN (or CIO_MCP_TOKEN_FILE / --token-file) to "
                               "an API token with the 'agent' scope")
        try:
            principal = api_token_authenticate(raw)
        except Unauthenticated as exc:
            raise CommandError(exc.message) from exc
        if not principal.has(SCOPE_AGENT):
            raise CommandError("the token needs the 'agent' scope")
        anyio.run(self._serve, principal)

    async def _serve(self, principal: Principal) -> None:
        server = build_server(default_principal=principal)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
