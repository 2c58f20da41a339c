"""The ASGI guard in front of every route: token, Host and Origin checks.

* ``--token``: every request must carry ``Authorization: Bearer <token>`` (HARP sends its
  saved token this way to every server; gradio_client sends ``X-HF-Authorization``, also
  accepted). Without ``--token`` these headers are ignored, never logged.
* Bound to loopback: requests must be addressed to ``127.0.0.1`` / ``localhost`` / ``[::1]``
  (a web page using DNS rebinding cannot reach the server under another name).
* A request with an ``Origin`` of another site is refused: HARP and gradio_client send
  none, so this only stops browsers posting from web pages (cross-site request forgery).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["Guard"]

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """Wraps the app; answers 401/403 JSON before any route runs."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback_only: bool):
        self.app = app
        self.token = token.encode() if token else None
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.loopback_only and _hostname(host) not in LOOPBACK_NAMES:
            await _deny(
                send,
                403,
                f"this server answers only requests to 127.0.0.1 or localhost, not {host!r}; "
                "to serve other machines start it with --host 0.0.0.0 --token T",
            )
            return
        origin = headers.get("origin")
        if origin and origin not in (f"http://{host}", f"https://{host}"):
            await _deny(send, 403, f"cross-origin requests from {origin} are refused")
            return
        if self.token is not None and not self._authorized(headers):
            await _deny(
                send,
                401,
                "this server needs a token: send 'Authorization: Bearer <token>' "
                "(in HARP, save the server's token in Settings)",
                extra=[(b"www-authenticate", b"Bearer")],
            )
            return
        await self.app(scope, receive, send)

    def _authorized(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        for name in ("authorization", "x-hf-authorization"):
            value = headers.get(name, "")
            scheme, _, given = value.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                given.strip().encode(), self.token
            ):
                return True
        return False


async def _deny(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": message}).encode()
    head: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
