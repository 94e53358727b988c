"""Who is asking: bearer tokens on a TCP listener, the peer's identity on every connection.

A TCP listener holds named tokens; a request must carry one as `Authorization: Bearer
TOKEN`, the scheme in any case (RFC 7235 makes auth schemes case-insensitive), or as
the password of `Basic` credentials (any user name), which is how supervisorctl sends one. Both
sides are hashed before the constant-time comparison, so neither the token nor its
length shows in the time a refusal takes, and every token is compared, so the time
does not say which one nearly matched. The digest and the comparison are CPython's
built-in ones (`_sha256`/`_sha2`, `_operator._compare_digest`): `hashlib` and `hmac`
would load OpenSSL's libcrypto, about 4 MB of the daemon's resident memory.
"""

from __future__ import annotations

import asyncio
from _operator import _compare_digest  # what hmac.compare_digest is without OpenSSL
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from corral._control.server.http.messages import HttpError, Peer, Request
from corral._errors import InvalidSpec
from corral._platform import peer_credentials
from corral._supervisor.config.settings import MIN_TOKEN_BYTES

__all__ = ["Gate", "Tokens", "digest", "peer_of"]

_sha256: Any
try:  # the interpreter's own SHA-256 (3.12 names it _sha2), not OpenSSL's
    from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
except ImportError:
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found,no-redef,unused-ignore]


class Gate(Protocol):
    """What lets a request on a TCP listener in: `Tokens`, or the dashboard's sessions."""

    def admit(self, request: Request) -> Peer:
        """The request's peer with its identity filled in; HttpError (401) if refused.

        `request` has its head only (its body is not read yet)."""
        ...


class Tokens:
    """The bearer tokens one listener accepts, by name; `name_of` checks a header."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        if not tokens:
            raise InvalidSpec("the TCP listener needs at least one token")
        short = sorted(name for name, secret in tokens.items() if len(secret) < MIN_TOKEN_BYTES)
        if short:
            names = ", ".join(short)
            raise InvalidSpec(f"tokens must be at least {MIN_TOKEN_BYTES} bytes: {names}")
        self._digests = [(name, _digest(secret.encode())) for name, secret in tokens.items()]

    def __repr__(self) -> str:
        return f"<Tokens {', '.join(name for name, _ in self._digests)}>"

    def admit(self, request: Request) -> Peer:
        """The peer with the name of the token the request carries; 401 without one."""
        name = self.name_of(request.headers.get("authorization", ""))
        if name is None:
            message = "missing or wrong token; send `Authorization: Bearer <token>`"
            raise HttpError(401, message, headers=(("www-authenticate", "Bearer"),))
        return replace(request.peer, token=name)

    def name_of(self, authorization: str) -> str | None:
        """The name of the token an Authorization header carries; None if none matches."""
        scheme, _, credentials = authorization.strip(" ").partition(" ")
        if scheme.lower() == "basic":  # supervisorctl -u NAME -p TOKEN: the password counts
            credentials = _basic_password(credentials.strip(" "))
        elif scheme.lower() != "bearer":
            return None
        given = _digest(credentials.strip(" ").encode("latin-1"))
        found = None
        for name, digest in self._digests:
            if _compare_digest(given, digest) and found is None:
                found = name
        return found


def peer_of(transport: asyncio.BaseTransport) -> Peer:
    """The peer of a new connection: SO_PEERCRED on a unix socket, the address on TCP."""
    peername = transport.get_extra_info("peername")
    if isinstance(peername, tuple):  # AF_INET (host, port) or AF_INET6 (host, port, ...)
        host, port = peername[0], peername[1]
        shown = f"[{host}]" if ":" in host else host
        return Peer("tcp", address=f"{shown}:{port}")
    sock = transport.get_extra_info("socket")
    credentials = None if sock is None else peer_credentials(sock)
    if credentials is None:
        return Peer("unix")
    pid, uid, _ = credentials
    return Peer("unix", uid=uid, pid=pid)


def _basic_password(credentials: str) -> str:
    """The password of Basic credentials (base64 of "user:password"); "" if malformed."""
    import binascii

    try:
        decoded = binascii.a2b_base64(credentials.encode("latin-1"), strict_mode=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return ""
    return decoded.decode("latin-1").partition(":")[2]


def digest(data: bytes) -> bytes:
    """SHA-256 of `data` by the interpreter's own code (a secret is compared by its digest)."""
    made: bytes = _sha256(data).digest()
    return made


_digest = digest
