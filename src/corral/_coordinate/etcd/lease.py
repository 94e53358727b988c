"""EtcdLease: an etcd lease kept alive in the background, and when it can no longer be trusted.

The lease is counted on only until `deadline`: the moment the last successful
keep-alive was *sent*, plus the TTL etcd answered. etcd received that request later
than it was sent, so the lease lives at least that long on the server; after it,
without a newer answer, it may have expired and another process may hold what it
held. So `alive` turns False at the deadline even when etcd cannot be reached to
say so, and never later: nothing is ever reported held when it may not be.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Self

from corral._coordinate.etcd.client import EtcdClient
from corral._errors import CoordinationError, LeaseLost, StoreUnavailable

__all__ = ["EtcdLease"]

_RETRY = 0.2
"""Seconds between keep-alive attempts after one failed (until the deadline)."""


class EtcdLease:
    """A lease with a TTL, refreshed every TTL/3 until it is revoked or lost.

    `async with EtcdLease(client, ttl=10) as lease:` grants and, at the end, revokes it.
    Given to several EtcdLocks (`lease=`), it saves each hold its own grant and revoke:
    all of them are lost together when it is.
    """

    def __init__(self, client: EtcdClient, ttl: int = 10, name: str = "lease") -> None:
        if ttl < 1:
            raise CoordinationError(f"{name!r}: a lease TTL is whole seconds, at least 1")
        self._client = client
        self.ttl = ttl
        self.name = name
        self.id = 0
        self._deadline = 0.0
        self._task: asyncio.Task[None] | None = None
        self.lost = asyncio.Event()
        """Set when the lease is lost (expired, revoked by someone, etcd unreachable too long)."""
        self.reason: str | None = None
        self._on_lost: list[Callable[[str], None]] = []

    def __repr__(self) -> str:
        state = "alive" if self.alive else f"lost ({self.reason})" if self.reason else "not granted"
        return f"<EtcdLease {self.id:x} ttl={self.ttl} {state}>"

    @property
    def alive(self) -> bool:
        """Whether the lease certainly still exists on etcd (see the module's docstring)."""
        return self.id != 0 and not self.lost.is_set() and time.monotonic() < self._deadline

    @property
    def deadline(self) -> float:
        """The monotonic time until which the lease is certainly alive."""
        return self._deadline

    def on_lost(self, callback: Callable[[str], None]) -> None:
        """Call `callback(reason)` once, when the lease is lost."""
        self._on_lost.append(callback)

    async def grant(self) -> None:
        """Ask etcd for the lease and start keeping it alive."""
        sent = time.monotonic()
        self.id, granted = await self._client.grant(self.ttl)
        self.ttl = granted
        self._deadline = sent + granted
        self._task = asyncio.get_running_loop().create_task(self._keep_alive())

    async def revoke(self) -> None:
        """Stop refreshing and end the lease (its keys go with it); quiet if etcd is gone.

        A lease already counted as lost is revoked too: etcd may still hold it (a
        restarted etcd restores its leases with their full TTL), and its keys would
        keep the next holder waiting until it ran out.
        """
        await self._stop()
        if self.id:
            self._lose("revoked")
            with contextlib.suppress(CoordinationError):  # StoreUnavailable, or refused
                await self._client.revoke(self.id)

    async def __aenter__(self) -> Self:
        await self.grant()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.revoke()

    def raise_if_lost(self) -> None:
        """LeaseLost unless the lease is alive."""
        if not self.alive:
            raise LeaseLost(self.name, self.reason or "the lease expired")

    async def _keep_alive(self) -> None:
        failure = ""
        pause = self.ttl / 3
        while True:
            await asyncio.sleep(max(0.0, min(pause, self._deadline - time.monotonic())))
            if time.monotonic() >= self._deadline:
                self._lose(failure or "the lease expired before it could be refreshed")
                return
            sent = time.monotonic()
            try:
                async with asyncio.timeout(self._deadline - sent):
                    ttl = await self._client.keep_alive(self.id)
            except (StoreUnavailable, TimeoutError, CoordinationError) as exc:
                failure = f"etcd could not refresh the lease before it ran out ({exc})"
                pause = _RETRY
                continue
            if ttl <= 0:
                self._lose("the lease expired or was revoked on etcd")
                return
            self._deadline, pause, failure = sent + ttl, self.ttl / 3, ""

    def _lose(self, reason: str) -> None:
        if self.lost.is_set():
            return
        self.reason = reason
        self.lost.set()
        for callback in self._on_lost:
            callback(reason)

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
