"""An MCP server built on the official Python SDK (`mcp`), as an operator would run one behind a proxy.

    python -m lab.backends.python_mcp --kind streamable --port 9101

Kinds:
- `streamable`: Streamable HTTP at /mcp, stateful sessions (the SDK's defaults), Host/Origin checks off
  (the proxy in front owns the public name);
- `sse`: the legacy HTTP+SSE transport, GET /sse and POST /messages/;
- `strict`: Streamable HTTP with the SDK's own default for a server bound to 127.0.0.1: DNS-rebinding
  protection on, only `127.0.0.1:*` / `localhost:*` accepted as Host;
- `auth`: Streamable HTTP protected by bearer tokens (a resource server only; the authorization server
  it names serves no metadata, so a client cannot complete OAuth).
"""

from __future__ import annotations

import argparse

import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

OPEN = TransportSecuritySettings(enable_dns_rebinding_protection=False)


class LabTokens:
    """Accepts one token, `lab-token`; the lab's clients never obtain it through OAuth."""

    async def verify_token(self, token: str) -> AccessToken | None:
        return AccessToken(token=token, client_id="lab", scopes=[]) if token == "lab-token" else None


def server(kind: str, public_url: str | None) -> MCPServer:
    if kind == "auth":
        if not public_url:
            raise SystemExit("--public-url is needed for --kind auth")
        base = public_url.rsplit("/mcp", 1)[0]
        settings = AuthSettings(issuer_url=f"{base}/", resource_server_url=public_url, required_scopes=[])  # type: ignore[arg-type]
        mcp = MCPServer("logscope-lab", token_verifier=LabTokens(), auth=settings, log_level="WARNING")
    else:
        mcp = MCPServer("logscope-lab", log_level="WARNING")

    @mcp.tool()
    def echo(text: str) -> str:
        """Say it back."""
        return text

    return mcp


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["streamable", "sse", "strict", "auth"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="the loopback address to bind")
    parser.add_argument("--public-url", help="the URL clients use (auth: the protected resource)")
    args = parser.parse_args()
    mcp = server(args.kind, args.public_url)
    if args.kind == "sse":
        app = mcp.sse_app(transport_security=OPEN)
    elif args.kind == "strict":
        app = mcp.streamable_http_app(host="127.0.0.1")  # the SDK's default protection for a local bind
    else:
        app = mcp.streamable_http_app(transport_security=OPEN)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
