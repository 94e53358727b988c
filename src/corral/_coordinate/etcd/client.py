"""EtcdClient: etcd's v3 API over its JSON gateway, on any of several endpoints.

Each call has a timeout and goes to the first endpoint that answers (the one that
answered last is tried first). Keys and values are bytes (base64 on the wire);
int64 fields come back as strings and are turned into ints here. Idle connections
are kept for the next call.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from corral._coordinate.etcd.http import (
    Endpoint,
    GatewayError,
    HttpConnection,
    Unreachable,
    parse_endpoint,
)
from corral._errors import CoordinationError, StoreUnavailable

if TYPE_CHECKING:
    import ssl

__all__ = ["EtcdClient", "KeyValue", "WatchEvent", "prefix_end"]

_IDLE_KEPT = 4
"""Idle connections kept per client (more concurrent calls open more, then close them)."""
_INVALID_TOKEN = 16
"""gRPC UNAUTHENTICATED: the auth token expired; authenticate again once."""


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key as etcd holds it."""

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A change of a watched key: a put (the new value) or a delete."""

    deleted: bool
    kv: KeyValue
    revision: int
    """The store's revision after the change."""


def prefix_end(prefix: bytes) -> bytes:
    """The range end that makes a range of every key starting with `prefix`."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _kv(raw: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=base64.b64decode(raw.get("key", "")),
        value=base64.b64decode(raw.get("value", "")),
        create_revision=int(raw.get("create_revision", 0)),
        mod_revision=int(raw.get("mod_revision", 0)),
        lease=int(raw.get("lease", 0)),
    )


class EtcdClient:
    """A client of one etcd cluster (asyncio).

    Args:
        endpoints: client URLs, `http://127.0.0.1:2379` (https:// for TLS).
        timeout: seconds for each call (connecting included); StoreUnavailable after it.
        ca_file, cert_file, key_file: TLS trust and client certificate (https only).
        user, password: etcd authentication (a token is fetched on the first call).

    Raises:
        CoordinationError: an endpoint URL that cannot be used, or none given.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = 5.0,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        if isinstance(endpoints, str) or not endpoints:
            raise CoordinationError("etcd endpoints: expected a list of URLs, got none")
        self._endpoints = [parse_endpoint(url) for url in endpoints]
        self.timeout = timeout
        self._tls_files = (ca_file, cert_file, key_file)
        self._tls: ssl.SSLContext | None = None
        self._credentials = (user, password) if user is not None else None
        self._token: str | None = None
        self._idle: list[HttpConnection] = []

    def __repr__(self) -> str:
        return f"<EtcdClient {', '.join(e.url for e in self._endpoints)}>"

    @property
    def endpoints(self) -> list[str]:
        """The client URLs, the one that answered last first."""
        return [e.url for e in self._endpoints]

    async def close(self) -> None:
        """Close the idle connections (calls in progress finish on their own)."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(connection.aclose() for connection in idle))

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- the calls used by leases, locks, elections and groups -----------------

    async def grant(self, ttl: int) -> tuple[int, int]:
        """A new lease: (its id, the TTL etcd granted)."""
        answer = await self.call("/v3/lease/grant", {"TTL": ttl})
        return int(answer["ID"]), int(answer["TTL"])

    async def keep_alive(self, lease: int) -> int:
        """Refresh `lease`: its TTL now, 0 when it has expired or was revoked."""
        answer = await self.call("/v3/lease/keepalive", {"ID": lease})
        return int(answer.get("result", {}).get("TTL", 0))

    async def revoke(self, lease: int) -> None:
        """End `lease` and delete its keys (an unknown lease is not an error)."""
        try:
            await self.call("/v3/lease/revoke", {"ID": lease})
        except GatewayError as exc:
            if "lease not found" not in exc.message:
                raise

    async def put(self, key: bytes, value: bytes, *, lease: int = 0) -> int:
        """Set `key`; the store's revision after it."""
        body = {"key": _b64(key), "value": _b64(value), "lease": lease}
        return _revision(await self.call("/v3/kv/put", body))

    async def get_prefix(self, prefix: bytes) -> tuple[list[KeyValue], int]:
        """Every key under `prefix` oldest first (by create revision), and the revision read."""
        answer = await self.call("/v3/kv/range", _oldest_first(prefix))
        return [_kv(raw) for raw in answer.get("kvs", [])], _revision(answer)

    async def delete(self, key: bytes) -> int:
        """Delete `key`; the store's revision after it."""
        return _revision(await self.call("/v3/kv/deleterange", {"key": _b64(key)}))

    async def create_and_rank(
        self, key: bytes, value: bytes, lease: int, prefix: bytes
    ) -> tuple[int, KeyValue | None, int]:
        """Create `key` on `lease` unless it exists, and read the oldest key under `prefix`.

        One transaction (one round trip): (the key's create revision, the oldest key
        under the prefix, the revision read).
        """
        entry = {"request_range": _oldest_first(prefix, limit=1)}
        body = {
            "compare": [
                {"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": 0}
            ],
            "success": [
                {"request_put": {"key": _b64(key), "value": _b64(value), "lease": lease}},
                entry,
            ],
            "failure": [{"request_range": {"key": _b64(key)}}, entry],
        }
        answer = await self.call("/v3/kv/txn", body)
        responses = answer.get("responses", [])
        oldest_kvs = responses[1]["response_range"].get("kvs", [])
        oldest = _kv(oldest_kvs[0]) if oldest_kvs else None
        if answer.get("succeeded"):
            created = _revision(answer)
        else:
            created = _kv(responses[0]["response_range"]["kvs"][0]).create_revision
        return created, oldest, _revision(answer)

    async def predecessor(self, prefix: bytes, revision: int) -> tuple[KeyValue | None, int]:
        """The newest key under `prefix` created before `revision`, and the revision read."""
        body = _oldest_first(prefix, limit=1)
        body.update(sort_order="DESCEND", max_create_revision=revision - 1)
        answer = await self.call("/v3/kv/range", body)
        kvs = answer.get("kvs", [])
        return (_kv(kvs[0]) if kvs else None), _revision(answer)

    async def watch(
        self, key: bytes, *, prefix: bool = False, start_revision: int = 0
    ) -> AsyncIterator[list[WatchEvent]]:
        """The changes of `key` (or every key under it) from `start_revision`, as pushed.

        Raises StoreUnavailable when the stream breaks: the caller re-reads and watches
        again from the revision it has seen.
        """
        request: dict[str, Any] = {"key": _b64(key), "start_revision": start_revision}
        if prefix:
            request["range_end"] = _b64(prefix_end(key))
        connection = await self._connect()
        try:
            stream = connection.stream(
                "/v3/watch", {"create_request": request}, await self._headers()
            )
            async for message in stream:
                result = message.get("result", {})
                events = [_event(raw) for raw in result.get("events", [])]
                if result.get("canceled"):
                    raise StoreUnavailable(self.endpoints, "etcd cancelled the watch")
                if events:
                    yield events
        except Unreachable as exc:
            raise StoreUnavailable(self.endpoints, f"the watch broke: {exc}") from None
        finally:
            connection.close()

    # -- transport ---------------------------------------------------------------

    async def call(self, path: str, body: dict[str, Any]) -> Any:
        """POST `body` to `path` on the first endpoint that answers, within the timeout."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._call_authenticated(path, body)
        except TimeoutError:
            raise StoreUnavailable(self.endpoints, f"no answer within {self.timeout:g} s") from None

    async def _call_authenticated(self, path: str, body: dict[str, Any]) -> Any:
        try:
            return await self._call_any(path, body, await self._headers())
        except GatewayError as exc:
            if exc.code != _INVALID_TOKEN or self._credentials is None:
                raise
            self._token = None
            return await self._call_any(path, body, await self._headers())

    async def _headers(self) -> list[tuple[str, str]]:
        if self._credentials is None:
            return []
        if self._token is None:
            user, password = self._credentials
            answer = await self._call_any(
                "/v3/auth/authenticate", {"name": user, "password": password or ""}, []
            )
            self._token = str(answer["token"])
        return [("Authorization", self._token)]

    async def _call_any(
        self, path: str, body: dict[str, Any], headers: list[tuple[str, str]]
    ) -> Any:
        reasons: list[str] = []
        while True:
            reused = bool(self._idle)
            connection = await self._connect(reasons)
            try:
                answer = await connection.call(path, body, headers)
            except Unreachable as exc:
                connection.close()
                if reused:  # a kept connection the server closed meanwhile: open a new one
                    self._drop_idle(connection.endpoint)
                    continue
                reasons.append(f"{connection.endpoint.url}: {exc}")
                self._rotate(connection.endpoint)
                if len(reasons) >= len(self._endpoints):
                    raise StoreUnavailable(self.endpoints, "; ".join(reasons)) from None
                continue
            except BaseException:
                connection.close()
                raise
            self._release(connection)
            return answer

    async def _connect(self, reasons: list[str] | None = None) -> HttpConnection:
        if self._idle:
            return self._idle.pop()
        reasons = [] if reasons is None else reasons
        for endpoint in list(self._endpoints):
            try:
                return await HttpConnection.open(endpoint, self.timeout, self._context(endpoint))
            except Unreachable as exc:
                reasons.append(f"{endpoint.url}: {exc}")
                self._rotate(endpoint)
        raise StoreUnavailable(self.endpoints, "; ".join(reasons))

    def _release(self, connection: HttpConnection) -> None:
        if len(self._idle) < _IDLE_KEPT:
            self._idle.append(connection)
        else:
            connection.close()

    def _rotate(self, failed: Endpoint) -> None:
        """Try `failed` last from now on; drop idle connections to it."""
        if self._endpoints[0] == failed and len(self._endpoints) > 1:
            self._endpoints.append(self._endpoints.pop(0))
        self._drop_idle(failed)

    def _drop_idle(self, endpoint: Endpoint) -> None:
        for connection in [c for c in self._idle if c.endpoint == endpoint]:
            self._idle.remove(connection)
            connection.close()

    def _context(self, endpoint: Endpoint) -> ssl.SSLContext | None:
        if not endpoint.tls:
            return None
        if self._tls is None:
            self._tls = _tls_context(*self._tls_files)
        return self._tls


def _oldest_first(prefix: bytes, limit: int = 0) -> dict[str, Any]:
    return {
        "key": _b64(prefix),
        "range_end": _b64(prefix_end(prefix)),
        "sort_target": "CREATE",
        "sort_order": "ASCEND",
        "limit": limit,
    }


def _revision(answer: dict[str, Any]) -> int:
    return int(answer.get("header", {}).get("revision", 0))


def _event(raw: dict[str, Any]) -> WatchEvent:
    kv = _kv(raw.get("kv", {}))
    return WatchEvent(deleted=raw.get("type") == "DELETE", kv=kv, revision=kv.mod_revision)


def _tls_context(
    ca_file: str | None, cert_file: str | None, key_file: str | None
) -> ssl.SSLContext:
    try:
        import ssl
    except ImportError:  # the daemon blocks ssl unless its config asks for TLS
        raise CoordinationError(
            "an https:// etcd endpoint needs ssl, which is not loaded"
        ) from None
    context = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as exc:
            raise CoordinationError(f"etcd client certificate {cert_file}: {exc}") from None
    return context
