"""Who may use a TCP listener that serves the dashboard: a token, or a session's cookie.

A request that carries `Authorization` is judged by the tokens alone, as on any TCP
listener. One that carries the session cookie comes in as the session (the audit log
records its token's name and label); if its method can change something it must also
come from the dashboard's own origin (`Origin`, else `Referer`, naming the scheme and
`Host` the request was sent to) and carry the session's `X-Corral-CSRF` header, or it
is a 403 (docs/decisions/0017-web-dashboard.md). Only the login page and the login
itself are open to anyone; `GET /` without a session is sent to the login page; any
other request is the tokens' 401.
"""

from __future__ import annotations

from dataclasses import replace

from corral._control.server.http import HttpError, Request
from corral._control.server.http.auth import Tokens
from corral._control.server.http.messages import Peer
from corral._control.server.web.sessions import Session, Sessions

__all__ = ["CSRF_HEADER", "LOGIN_PATH", "WebGate", "same_origin"]

CSRF_HEADER = "x-corral-csrf"
LOGIN_PATH = "/login"
SAFE_METHODS = frozenset({"GET", "HEAD"})
OPEN = frozenset({("GET", LOGIN_PATH), ("POST", LOGIN_PATH)})
"""What anyone who can connect may ask: the login page and the login."""


class WebGate:
    """A `Gate` for the dashboard's listener: the tokens, and the sessions they open."""

    def __init__(self, tokens: Tokens, sessions: Sessions, *, tls: bool) -> None:
        self.tokens = tokens
        self.sessions = sessions
        self.scheme = "https" if tls else "http"

    def admit(self, request: Request) -> Peer:
        """The request's peer: its token's, its session's; 303 to the login, 401 or 403."""
        if "authorization" in request.headers:
            return self.tokens.admit(request)
        if (request.method, request.path) in OPEN:
            return request.peer
        session = self.sessions.find(request.headers.get("cookie", ""))
        if session is not None:
            if request.method not in SAFE_METHODS:
                self._check_not_cross_site(request, session)
            return replace(request.peer, token=session.token, session=session.label)
        if request.method in SAFE_METHODS and request.path == "/":
            raise HttpError(303, "log in first", headers=(("location", LOGIN_PATH),))
        return self.tokens.admit(request)  # the 401 naming the token

    def _check_not_cross_site(self, request: Request, session: Session) -> None:
        if not same_origin(request, self.scheme):
            raise HttpError(403, "cross-site request refused: its Origin is not the dashboard's")
        given = request.headers.get(CSRF_HEADER, "")
        if not given or not session.csrf_matches(given):
            raise HttpError(403, f"cross-site request refused: no valid {CSRF_HEADER} header")


def same_origin(request: Request, scheme: str) -> bool:
    """Whether a request comes from a page of the origin it was sent to.

    `Origin` decides when present (browsers send it with every POST); else `Referer`;
    a state-changing request with neither is refused.
    """
    host = request.headers.get("host", "")
    if not host:
        return False
    own = f"{scheme}://{host}"
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == own
    referer = request.headers.get("referer", "")
    return referer == own or referer.startswith(own + "/")
