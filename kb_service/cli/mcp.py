"""`kb-service mcp --kb ID --key KEY`: serve one knowledge base to an MCP client (Claude Desktop...)
over stdio, from this instance's data folder (`--data-dir`). The key must reach the KB."""

from __future__ import annotations

import typer

from kb_service.cli._common import KbOption, KeyOption, ProfileOption, settings
from kb_service.cli._connection import connection
from kb_service.errors import InvalidInput


def register(app: typer.Typer) -> None:
    app.command("mcp", help="Serve a KB to an MCP client over stdio (the KB's API key).")(mcp)


def mcp(kb: KbOption = None, key: KeyOption = None, profile: ProfileOption = None) -> int:
    target = connection(None, key, profile, kb)
    if not target.key:
        raise InvalidInput("Give the KB's API key: --key KEY (or $KB_API_KEY).", details={"field": "key"})
    # The MCP server (and its SDK) load only when this command runs.
    from kb_service.mcp.stdio import run_stdio

    run_stdio(settings(), kb_id=target.kb_id(), key=target.key)
    return 0
