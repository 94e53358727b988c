"""The dashboard's logins: a session per browser, named by an unguessable cookie.

A session is opened by `POST /login` with one of the listener's tokens and remembers the
token's name (what the audit log records for its requests) and a CSRF token the page
sends back with each state-changing call. Sessions live in the daemon's memory only: a
restart logs every browser out. They end LIFETIME seconds after the login, at logout, or
when MAX_SESSIONS newer ones push the oldest out (a flood of logins holds bounded memory).
Ids are found by their SHA-256, so the time a lookup takes says nothing about the id.
"""

from __future__ import annotations

import os
import time
from _operator import _compare_digest  # what hmac.compare_digest is without OpenSSL
from collections.abc import Callable
from dataclasses import dataclass, field

from corral._control.server.http.auth import digest

__all__ = ["COOKIE", "LIFETIME", "MAX_SESSIONS", "Session", "Sessions", "cookie_value"]

COOKIE = "corral_session"
"""The cookie's name."""
LIFETIME = 12 * 3600.0
"""Seconds a login lasts (the cookie's Max-Age too)."""
MAX_SESSIONS = 256
"""Sessions held at once; the oldest goes when a login would make more."""


@dataclass(frozen=True, slots=True)
class Session:
    """One browser's login."""

    label: str
    """"web-N": what the audit log shows for it (the id itself is never written)."""
    token: str
    """The name of the token it logged in with."""
    csrf: str = field(repr=False)
    """The value the page sends as `X-Corral-CSRF` with every state-changing call."""
    expires: float
    """When it ends, on the sessions' clock."""

    def csrf_matches(self, given: str) -> bool:
        """Whether a request's CSRF header is this session's (in constant time)."""
        return _compare_digest(digest(given.encode("latin-1")), digest(self.csrf.encode()))


class Sessions:
    """The open sessions, by the digest of their id."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._by_digest: dict[bytes, Session] = {}
        self._opened = 0

    def __len__(self) -> int:
        return len(self._by_digest)

    def open(self, token: str) -> tuple[str, Session]:
        """A new session for `token`'s holder: (the cookie's value, the session)."""
        self._opened += 1
        secret = os.urandom(32).hex()
        session = Session(
            label=f"web-{self._opened}",
            token=token,
            csrf=os.urandom(32).hex(),
            expires=self._clock() + LIFETIME,
        )
        while len(self._by_digest) >= MAX_SESSIONS:
            del self._by_digest[next(iter(self._by_digest))]  # the oldest (dicts keep order)
        self._by_digest[digest(secret.encode())] = session
        return secret, session

    def find(self, cookie_header: str) -> Session | None:
        """The live session a `Cookie` header names; None if none (an expired one goes)."""
        value = cookie_value(cookie_header, COOKIE)
        if value is None:
            return None
        key = digest(value.encode("latin-1"))
        session = self._by_digest.get(key)
        if session is not None and session.expires <= self._clock():
            del self._by_digest[key]
            return None
        return session

    def close(self, cookie_header: str) -> None:
        """End the session a `Cookie` header names (logout); nothing if there is none."""
        value = cookie_value(cookie_header, COOKIE)
        if value is not None:
            self._by_digest.pop(digest(value.encode("latin-1")), None)


def cookie_value(header: str, name: str) -> str | None:
    """The value of cookie `name` in a `Cookie` header (RFC 6265 `a=1; b=2`), or None."""
    for pair in header.split(";"):
        key, sep, value = pair.strip().partition("=")
        if sep and key == name:
            return value.strip('"')
    return None
