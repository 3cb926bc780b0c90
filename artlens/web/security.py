"""What every response goes through: the Host check (against DNS rebinding) and the security headers.

DNS rebinding: a web page on evil.example can make its own name resolve to 127.0.0.1 and then read a
server there as if it were its own origin; the browser still sends `Host: evil.example`. Answering
only to the names the server is meant to be reached by closes that door, reads included.

Both are plain ASGI wrappers around the whole app (see app.py), outside FastAPI's error handling, so
that even a 500 answer carries the headers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
IN_PROCESS_CLIENT = "testclient"

# The pages load nothing from outside the app; search.js previews dropped files as blob: URLs.
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
               "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
               "frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": PAGE_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


def split_host(value: str) -> tuple[str, int | None]:
    """'Name:8000' -> ('name', 8000); '[::1]:8000' -> ('[::1]', 8000); a bad port -> port -1."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, rest = (value[:end + 1], value[end + 1:]) if end > 0 else (value, "")
    else:
        name, sep, port = value.rpartition(":")
        name, rest = (name, sep + port) if sep and ":" not in name else (value, "")
    if not rest:
        return name, None
    digits = rest[1:]
    valid = rest.startswith(":") and digits.isascii() and digits.isdigit() and len(digits) <= 5 and int(digits) <= 65535
    return name, int(digits) if valid else -1


def allowed_hosts(bind_host: str | None = None, extra: Iterable[str] = ()) -> list[str]:
    """The Host values a server answers to: the loopback names and the address it is bound to (any port),
    and `extra` ("name" for any port, "name:port", or "*" for any host at all)."""
    names = list(LOOPBACK_HOSTS)
    if bind_host:
        names.append(f"[{bind_host}]" if ":" in bind_host and not bind_host.startswith("[") else bind_host)
    return list(dict.fromkeys([*(n.lower() for n in names), *(e.strip().lower() for e in extra if e.strip())]))


class HostCheck:
    """Answer 400 to a request whose Host header is not one of `allowed` ("name", "name:port" or "*")."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.any = "*" in allowed
        self.rules = [split_host(a) for a in allowed if a != "*"]

    def allows(self, host: str) -> bool:
        if self.any:
            return True
        name, port = split_host(host)
        if not name or port == -1:
            return False
        return any(name == n and (p is None or p == port or (port is None and p in (80, 443))) for n, p in self.rules)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # In-process calls (Starlette's TestClient names its peer "testclient"; a socket peer is an address)
        # come from no browser, so no rebinding: they are not checked.
        if scope["type"] == "http" and (scope.get("client") or ("",))[0] != IN_PROCESS_CLIENT:
            host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), "")
            if not self.allows(host):
                await _reject(send, host)
                return
        await self.app(scope, receive, send)


async def _reject(send: Send, host: str) -> None:
    body = json.dumps({"error": f"this server does not answer to the host name {host[:100]!r}; "
                                "start it with --allowed-host NAME to allow it",
                       "detail": {"host": host[:100]}}).encode()
    await send({"type": "http.response.start", "status": 400,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Add SECURITY_HEADERS to every response that does not set them itself (the API docs page sets its own policy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", ())}
                message["headers"] = [*message.get("headers", ()), *((k, v) for k, v in self.headers if k not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
