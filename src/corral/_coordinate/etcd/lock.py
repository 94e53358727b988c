"""EtcdLock: a lock between machines on an etcd lease, with a fencing token.

Each contender creates its own key under the lock's prefix, on its own lease, in one
transaction that also reads the oldest key under the prefix; the contender whose key
is the oldest (lowest create revision) holds the lock. The others each watch the key
created just before theirs and look again when it is deleted, so a release wakes one
waiter, not all. The holder's key's create revision is the fencing token: the store's
revision only grows, so each later holder's token is larger, and a resource guarded
by the lock can refuse a request carrying a token lower than one it has seen.

A holder that crashes stops refreshing its lease; etcd deletes its key when the TTL
runs out and the next contender takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from types import TracebackType
from typing import Self

from corral._coordinate.etcd.client import EtcdClient, KeyValue
from corral._coordinate.etcd.lease import EtcdLease
from corral._coordinate.filelock import DEFAULT, _Default
from corral._errors import CoordinationError, LockTimeout, StoreUnavailable

__all__ = ["EtcdLock"]

_PREFIX = b"corral/lock/"


class EtcdLock:
    """An exclusive lock named `name` on etcd (asyncio): `async with` or acquire/release.

    Args:
        client: the EtcdClient.
        name: the lock's name; every process using the same name contends.
        ttl: the lease's TTL in whole seconds: how long a crashed holder blocks the others.
        owner: what the holder shows to the others (default: host and pid).
        timeout: how long `acquire()` / `async with` wait by default; None for ever.
        lease: a granted EtcdLease to hold the lock on (shared with other locks); by
            default each hold grants its own lease and revokes it at release.
    """

    _prefix = _PREFIX

    def __init__(
        self,
        client: EtcdClient,
        name: str,
        *,
        ttl: int = 10,
        owner: str | None = None,
        timeout: float | None = None,
        lease: EtcdLease | None = None,
    ) -> None:
        if not name or "/" in name:
            raise CoordinationError(f"etcd lock name {name!r}: expected a non-empty name without /")
        self._client = client
        self.name = name
        self.ttl = ttl
        self.owner = owner or f"{os.uname().nodename}:{os.getpid()}"
        self.timeout = timeout
        self._lease: EtcdLease | None = None
        self._shared = lease
        self._key = b""
        self.token = 0
        """The fencing token of the current hold (the key's create revision); 0 when not held."""

    def __repr__(self) -> str:
        state = f"held, token {self.token}" if self.held else "not held"
        return f"<{type(self).__name__} {self.name!r} {state}>"

    @property
    def prefix(self) -> bytes:
        return self._prefix + self.name.encode() + b"/"

    @property
    def held(self) -> bool:
        """Held now: acquired, and its lease certainly alive (False as soon as in doubt)."""
        return self.token != 0 and self._lease is not None and self._lease.alive

    @property
    def lease(self) -> EtcdLease | None:
        """The lease of the current hold (its `lost` event, `deadline`), None when not held."""
        return self._lease if self.token else None

    async def acquire(self, timeout: float | _Default | None = DEFAULT) -> int:
        """Wait for the lock (the default timeout if not given); return the fencing token.

        Raises:
            LockTimeout: not acquired in time (names the holder); this contender withdrew.
            StoreUnavailable: etcd did not answer (within the client's timeout).
            EtcdLeaseLost: the lease was lost while waiting.
        """
        if self.token:
            raise CoordinationError(f"lock {self.name!r} is already held by this EtcdLock")
        limit = self.timeout if timeout is DEFAULT else timeout
        deadline = None if limit is None else time.monotonic() + limit
        lease = self._shared or EtcdLease(self._client, self.ttl, self.name)
        if lease is self._shared:
            lease.raise_if_lost()
        else:
            await lease.grant()
        try:
            token = await self._contend(lease, deadline, limit)
        except BaseException:
            await self._withdraw(lease)
            raise
        self._lease, self.token = lease, token
        return token

    async def release(self) -> None:
        """Give the lock up: its key and lease are removed (quiet when etcd is gone)."""
        lease, self._lease, self.token = self._lease, None, 0
        if lease is not None:
            await self._withdraw(lease)

    async def _withdraw(self, lease: EtcdLease) -> None:
        """Remove our key: with our own lease, revoking it does (one round trip)."""
        if lease is not self._shared:
            await lease.revoke()
            return
        with contextlib.suppress(StoreUnavailable):
            await self._client.delete(self._key)

    async def holder(self) -> str | None:
        """The current holder's `owner`, None when nobody holds the lock."""
        kvs, _ = await self._client.get_prefix(self.prefix)
        return kvs[0].value.decode(errors="replace") if kvs else None

    async def __aenter__(self) -> Self:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.release()

    async def _contend(self, lease: EtcdLease, deadline: float | None, limit: float | None) -> int:
        self._key = self.prefix + f"{lease.id:016x}".encode()
        created, oldest, _ = await self._client.create_and_rank(
            self._key, self.owner.encode(), lease.id, self.prefix
        )
        while oldest is None or oldest.create_revision != created:
            before, revision = await self._client.predecessor(self.prefix, created)
            if before is None:
                break
            await self._wait_deleted(lease, before, revision, deadline, limit)
            oldest = None
        lease.raise_if_lost()
        return created

    async def _wait_deleted(
        self,
        lease: EtcdLease,
        before: KeyValue,
        revision: int,
        deadline: float | None,
        limit: float | None,
    ) -> None:
        remaining = None if deadline is None else deadline - time.monotonic()
        watch = asyncio.ensure_future(self._deleted(before.key, revision + 1))
        lost = asyncio.ensure_future(lease.lost.wait())
        try:
            done, _ = await asyncio.wait(
                {watch, lost}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (watch, lost):
                task.cancel()
            await asyncio.gather(watch, lost, return_exceptions=True)
        if lost in done:
            lease.raise_if_lost()
        if watch in done:
            watch.result()  # StoreUnavailable if the watch broke
            return
        holder = await self.holder()
        raise LockTimeout(self.name, limit or 0.0, holder)

    async def _deleted(self, key: bytes, start: int) -> None:
        async for events in self._client.watch(key, start_revision=start):
            if any(event.deleted for event in events):
                return
