"""Bearer-token check as plain ASGI middleware, shared by the web UI and the MCP HTTP transport.

The token travels as `Authorization: Bearer T` or, for links the browser opens itself (report iframe,
downloads), as `?token=T` — as in Jupyter. Comparisons are constant-time.
"""
from __future__ import annotations

import json
import secrets
from typing import Callable
from urllib.parse import parse_qs


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_from_scope(scope: dict) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, cred = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and cred.strip():
                return cred.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return query.get("token", [None])[0]


class TokenAuthMiddleware:
    """Answers 401 to HTTP requests on protected paths that lack the right token."""

    def __init__(self, app, token: str, protect: Callable[[str], bool] = lambda path: True):
        if not token:
            raise ValueError("an empty token would let anyone in")
        self.app, self.token, self.protect = app, token, protect

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.protect(scope.get("path", "")):
            given = token_from_scope(scope)
            if given is None or not secrets.compare_digest(given.encode(), self.token.encode()):
                what = "Missing token." if given is None else "Wrong token."
                body = json.dumps({"detail": f"{what} Send 'Authorization: Bearer <token>' or add ?token=<token>; "
                                             "the token is printed when the server starts."}).encode()
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b'Bearer realm="mlwright"'),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
