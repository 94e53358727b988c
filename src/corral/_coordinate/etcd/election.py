"""EtcdElection: one leader among processes on any machines, on an EtcdLock.

A candidate campaigns by contending for the election's lock; the holder leads, with
the lock's fencing token as its term. Everyone (candidates and mere observers) can
read the leader, and `observe()` pushes each change of leader as etcd's watch
reports it, never by polling.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from corral._coordinate.etcd.client import EtcdClient, KeyValue
from corral._coordinate.etcd.lock import EtcdLock
from corral._coordinate.filelock import DEFAULT, _Default
from corral._errors import StoreUnavailable

__all__ = ["EtcdElection"]


class EtcdElection(EtcdLock):
    """Leader election named `name` (asyncio): `campaign`, `resign`, `is_leader`, `observe`.

    `token` is the leader's term (the fencing token); `lease.lost` is set when
    leadership is lost without resigning (lease expired, etcd unreachable too long).
    """

    _prefix = b"corral/election/"

    def __init__(
        self,
        client: EtcdClient,
        name: str,
        *,
        ttl: int = 10,
        candidate: str | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(client, name, ttl=ttl, owner=candidate, timeout=timeout)

    @property
    def is_leader(self) -> bool:
        """Leading now (False as soon as the lease is in doubt)."""
        return self.held

    async def campaign(self, timeout: float | _Default | None = DEFAULT) -> int:
        """Wait to lead; return the term (fencing token). Errors as `EtcdLock.acquire`."""
        return await self.acquire(timeout)

    async def resign(self) -> None:
        """Stop leading; the next candidate takes over at once."""
        await self.release()

    async def leader(self) -> str | None:
        """The current leader's candidate name, None when there is none."""
        return await self.holder()

    async def observe(self) -> AsyncIterator[str | None]:
        """The leader now, then each new leader (None while there is none), as etcd pushes it.

        Ends with StoreUnavailable when etcd goes away.
        """
        kvs, revision = await self._client.get_prefix(self.prefix)
        current = {kv.key: kv for kv in kvs}
        leader = _oldest(current)
        yield leader
        async for events in self._client.watch(
            self.prefix, prefix=True, start_revision=revision + 1
        ):
            for event in events:
                if event.deleted:
                    current.pop(event.kv.key, None)
                else:
                    current.setdefault(event.kv.key, event.kv)
            now = _oldest(current)
            if now != leader:
                leader = now
                yield leader
        raise StoreUnavailable(self._client.endpoints, "the watch ended")


def _oldest(current: dict[bytes, KeyValue]) -> str | None:
    if not current:
        return None
    oldest = min(current.values(), key=lambda kv: kv.create_revision)
    return oldest.value.decode(errors="replace")
