"""Coordination façade: locks, leader election, membership and work assignment.

On one machine, with nothing to install: `FileLock` and `LocalElection` on lock files.
Work assignment, pure: `Rendezvous` (weighted rendezvous hashing over named members)
and `jump_hash` (numbered shards).
"""

from __future__ import annotations

from corral._coordinate.election import LocalElection
from corral._coordinate.filelock import FileLock
from corral._coordinate.hashing import Rendezvous, jump_hash
from corral._coordinate.holder import Holder
from corral._errors import CoordinationError, LeaseLost, LockTimeout, StoreUnavailable

__all__ = [
    "CoordinationError",
    "FileLock",
    "Holder",
    "LeaseLost",
    "LocalElection",
    "LockTimeout",
    "Rendezvous",
    "StoreUnavailable",
    "jump_hash",
]
