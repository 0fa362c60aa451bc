"""The MCP endpoint for LLM agents: tools generated from the governance operation registry.

* HTTP: ``/mcp`` (Streamable HTTP) inside ``cio_site.asgi:application``;
* stdio: ``python manage.py run_mcp_stdio`` for desktop MCP clients.
"""
