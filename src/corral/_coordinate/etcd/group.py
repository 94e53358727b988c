"""EtcdGroup: group membership on etcd, each member's entry on its lease, changes pushed.

A member joins by putting its entry under the group's prefix on its own lease, so a
member that dies leaves when its TTL runs out. `members()` reads the group once;
`watch()` yields the whole membership again each time etcd's watch reports a change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from corral._coordinate.etcd.client import EtcdClient
from corral._coordinate.etcd.lease import EtcdLease
from corral._errors import CoordinationError, StoreUnavailable

__all__ = ["EtcdGroup"]

_PREFIX = b"corral/group/"


class EtcdGroup:
    """The group named `name` (asyncio): join, leave, read and watch its members.

    Members are names (any text without "/") with a value (bytes) each, e.g. an address.
    """

    def __init__(self, client: EtcdClient, name: str, *, ttl: int = 10) -> None:
        if not name or "/" in name:
            raise CoordinationError(
                f"etcd group name {name!r}: expected a non-empty name without /"
            )
        self._client = client
        self.name = name
        self.ttl = ttl
        self._prefix = _PREFIX + name.encode() + b"/"
        self._lease: EtcdLease | None = None
        self.member: str | None = None
        """The name this process joined as, None when it has not joined."""

    @property
    def lease(self) -> EtcdLease | None:
        """The lease of this process's membership (its `lost` event), None when not joined."""
        return self._lease

    async def join(self, member: str, value: bytes = b"") -> None:
        """Become a member named `member` (replacing the entry of that name)."""
        if not member or "/" in member:
            raise CoordinationError(f"group member name {member!r}: expected a name without /")
        if self._lease is not None:
            raise CoordinationError(f"already a member of group {self.name!r} as {self.member!r}")
        lease = EtcdLease(self._client, self.ttl, f"{self.name}/{member}")
        await lease.grant()
        try:
            await self._client.put(self._prefix + member.encode(), value, lease=lease.id)
        except BaseException:
            await lease.revoke()
            raise
        self._lease, self.member = lease, member

    async def leave(self) -> None:
        """Stop being a member (the entry goes with the lease); quiet when not a member."""
        lease, self._lease, self.member = self._lease, None, None
        if lease is not None:
            await lease.revoke()

    async def members(self) -> dict[str, bytes]:
        """Each member's value, by name, as etcd holds it now."""
        kvs, _ = await self._client.get_prefix(self._prefix)
        return {self._name(kv.key): kv.value for kv in kvs}

    async def watch(self) -> AsyncIterator[dict[str, bytes]]:
        """The members now, then the members after each change, as etcd pushes it.

        Ends with StoreUnavailable when etcd goes away.
        """
        kvs, revision = await self._client.get_prefix(self._prefix)
        current = {self._name(kv.key): kv.value for kv in kvs}
        yield dict(current)
        async for events in self._client.watch(
            self._prefix, prefix=True, start_revision=revision + 1
        ):
            for event in events:
                if event.deleted:
                    current.pop(self._name(event.kv.key), None)
                else:
                    current[self._name(event.kv.key)] = event.kv.value
            yield dict(current)
        raise StoreUnavailable(self._client.endpoints, "the watch ended")

    def _name(self, key: bytes) -> str:
        return key[len(self._prefix) :].decode(errors="replace")
