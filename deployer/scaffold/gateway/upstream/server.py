"""{{name}}'s MCP server (FastMCP), behind mcpctl's gateway.

The gateway signs users in and checks their tokens; this server never sees them. Each request
carries instead a 60-second identity assertion signed by the gateway (docs/gateway.md in the
mcpctl repository): `AssertionVerifier` checks it against the gateway's JWKS, so every tool
knows who is calling.

Locally:  MCP_GATEWAY_ISSUER=http://127.0.0.1:8787 MCP_GATEWAY_AUDIENCE=http://127.0.0.1:8000/mcp \\
          MCP_GATEWAY_JWKS_URL=http://127.0.0.1:8787/.well-known/mcpctl-gateway-jwks.json PORT=8000 python server.py
          mcpctl dev --upstream http://127.0.0.1:8000/mcp
On Lambda the stack sets the three MCP_GATEWAY_* variables and AWS_LWA_PORT.
"""

import os

import uvicorn
from fastmcp import Context, FastMCP
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.server.dependencies import get_access_token
from fastmcp.utilities.auth import decode_jwt_header


class AssertionVerifier(JWTVerifier):
    """JWTVerifier plus what it leaves out: the assertion's `typ`, and an `exp` at all."""

    async def load_access_token(self, token):
        try:
            if decode_jwt_header(token).get("typ") != "mcpctl-identity+jwt":
                return None
        except Exception:
            return None
        verified = await super().load_access_token(token)
        return verified if verified is not None and "exp" in (verified.claims or {}) else None


mcp = FastMCP(
    "{{name}}",
    auth=AssertionVerifier(
        jwks_uri=os.environ["MCP_GATEWAY_JWKS_URL"],
        issuer=os.environ["MCP_GATEWAY_ISSUER"],
        audience=os.environ["MCP_GATEWAY_AUDIENCE"],
        algorithm="ES256",
    ),
)


@mcp.tool
def hello() -> str:
    """Say hello to the caller."""
    claims = get_access_token().claims
    who = claims.get("email") or claims["sub"]
    return f"Hello {who} ({claims['kind']}, client {claims['client_id']})"


@mcp.tool
async def count(ctx: Context, steps: int = 3) -> str:
    """Count to `steps`, reporting progress on the way."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps)
    return f"counted {steps}"


# Stateless: on Lambda any container may answer any request.
app = mcp.http_app(path="/mcp", stateless_http=True)

if __name__ == "__main__":
    port = int(os.environ.get("AWS_LWA_PORT") or os.environ.get("PORT") or "8080")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
