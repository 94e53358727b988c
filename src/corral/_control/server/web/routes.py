"""The dashboard's own routes: the page, the login and logout, the session's CSRF token.

Everything else the page does is a call of the API (`/v1/...`) with the session's
cookie. The page is one HTML file with its CSS and JS inline (dashboard.html, package
data), read once and served with a Content-Security-Policy that lets only its own inline
script run (by its SHA-256) and lets it connect only to its own origin.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from pathlib import Path

from corral._control.server.http import HttpError, Request, Response, Router
from corral._control.server.http.auth import Tokens, digest
from corral._control.server.web.gate import LOGIN_PATH, WebGate, same_origin
from corral._control.server.web.sessions import COOKIE, LIFETIME, Sessions

__all__ = ["PAGE_FILE", "Dashboard", "page_headers"]

PAGE_FILE = Path(__file__).with_name("dashboard.html")
SESSION_PATH = "/web/session"
LOGOUT_PATH = "/logout"


@dataclass(slots=True)
class Dashboard:
    """The dashboard of one daemon: its page, its sessions and the gate they open."""

    tls: bool
    sessions: Sessions
    page: bytes
    tokens: Tokens | None = None
    """The TCP listener's tokens, known once `gate` has been made from them."""

    @classmethod
    def load(cls, *, tls: bool) -> Dashboard:
        """The dashboard with its page read from the package (once, at start)."""
        return cls(tls=tls, sessions=Sessions(), page=PAGE_FILE.read_bytes())

    def gate(self, tokens: Tokens) -> WebGate:
        """What lets requests into the TCP listener (`HttpServer.listen_tcp(gate=...)`)."""
        self.tokens = tokens
        return WebGate(tokens, self.sessions, tls=self.tls)

    def add_routes(self, router: Router) -> None:
        """Serve the page at `/` and `/login`, and the login, logout and session routes."""
        headers = page_headers(self.page)
        page = Response(200, self.page, "text/html; charset=utf-8", headers)

        async def serve_page(request: Request) -> Response:
            return page

        router.add("GET", "/", serve_page, query=())
        router.add("GET", LOGIN_PATH, serve_page, query=())
        router.add("POST", LOGIN_PATH, self._login, query=())
        router.add("POST", LOGOUT_PATH, self._logout, query=())
        router.add("GET", SESSION_PATH, self._session, query=())

    async def _login(self, request: Request) -> Response:
        """`{"token": "..."}` -> a session cookie (200), or the tokens' 401."""
        if self.tokens is None:
            raise HttpError(404, "the dashboard's login is on the TCP listener")
        if "origin" in request.headers and not same_origin(request, self._scheme):
            raise HttpError(403, "cross-site login refused: its Origin is not the dashboard's")
        token = _token_of(request.body)
        name = self.tokens.name_of(f"Bearer {token}")
        if name is None:
            raise HttpError(401, "wrong token", headers=(("www-authenticate", "Bearer"),))
        cookie, session = self.sessions.open(name)
        attributes = f"Path=/; Max-Age={int(LIFETIME)}; HttpOnly; SameSite=Strict"
        if self.tls:
            attributes += "; Secure"
        reply = {"token": name, "session": session.label}
        return Response(
            200,
            json.dumps(reply).encode(),
            headers=(("set-cookie", f"{COOKIE}={cookie}; {attributes}"),),
        )

    async def _logout(self, request: Request) -> Response:
        self.sessions.close(request.headers.get("cookie", ""))
        expired = f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        return Response(200, b'{"ok":true}', headers=(("set-cookie", expired),))

    async def _session(self, request: Request) -> Response:
        """Who the page is logged in as and its CSRF token (null on the unix socket)."""
        session = self.sessions.find(request.headers.get("cookie", ""))
        reply = {
            "token": request.peer.token,
            "session": None if session is None else session.label,
            "csrf": None if session is None else session.csrf,
        }
        return Response(200, json.dumps(reply).encode(), headers=(("cache-control", "no-store"),))

    @property
    def _scheme(self) -> str:
        return "https" if self.tls else "http"


def _token_of(body: bytes) -> str:
    try:
        data = json.loads(body) if body else None
    except (ValueError, RecursionError):
        data = None
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token.isascii() or not token.isprintable():
        raise HttpError(400, 'the login body must be JSON {"token": "..."} of visible ASCII')
    return token


def page_headers(page: bytes) -> tuple[tuple[str, str], ...]:
    """The page's security headers: only its own inline script may run (by its hash)."""
    start = page.index(b"<script>") + len(b"<script>")
    script = page[start : page.index(b"</script>", start)]
    hashed = binascii.b2a_base64(digest(script), newline=False).decode()
    policy = (
        f"default-src 'none'; script-src 'sha256-{hashed}'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src data:; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    return (
        ("content-security-policy", policy),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    )
