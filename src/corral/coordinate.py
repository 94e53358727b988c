"""Coordination façade: locks, leader election, membership and work assignment.

On one machine, with nothing to install: `FileLock` and `LocalElection` on lock files.
Across machines, on etcd (asyncio): `EtcdClient`, and on it `EtcdLock` (with a fencing
token), `EtcdElection`, `EtcdGroup` (membership pushed by watch) and `EtcdLease`; they
are imported on first use, so a program that uses only the local locks loads none of it.
Work assignment, pure: `Rendezvous` (weighted rendezvous hashing over named members)
and `jump_hash` (numbered shards).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral._coordinate.election import LocalElection
from corral._coordinate.filelock import FileLock
from corral._coordinate.hashing import Rendezvous, jump_hash
from corral._coordinate.holder import Holder
from corral._errors import CoordinationError, LeaseLost, LockTimeout, StoreUnavailable
from corral._lazy import lazy_exports

__all__ = [
    "CoordinationError",
    "EtcdClient",
    "EtcdElection",
    "EtcdGroup",
    "EtcdLease",
    "EtcdLock",
    "FileLock",
    "Holder",
    "LeaseLost",
    "LocalElection",
    "LockTimeout",
    "Rendezvous",
    "StoreUnavailable",
    "jump_hash",
]

_LAZY = {
    "EtcdClient": "corral._coordinate.etcd.client",
    "EtcdElection": "corral._coordinate.etcd.election",
    "EtcdGroup": "corral._coordinate.etcd.group",
    "EtcdLease": "corral._coordinate.etcd.lease",
    "EtcdLock": "corral._coordinate.etcd.lock",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)


if TYPE_CHECKING:
    from corral._coordinate.etcd.client import EtcdClient
    from corral._coordinate.etcd.election import EtcdElection
    from corral._coordinate.etcd.group import EtcdGroup
    from corral._coordinate.etcd.lease import EtcdLease
    from corral._coordinate.etcd.lock import EtcdLock
