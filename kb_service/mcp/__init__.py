"""The knowledge base as an MCP server (Model Context Protocol): over streamable HTTP at `/mcp` in the
API's app (`http.McpEndpoint`) and over stdio for a local client (`stdio.run_stdio`). The tools are
in `tools`; docs/interfaces.md says how to connect a client."""
