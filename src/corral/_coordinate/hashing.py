"""Work assignment, pure: which member owns a key, moving few keys when members change.

Two schemes, both deterministic across processes and machines (no use of Python's
salted `hash`):

- `Rendezvous` (highest random weight, Thaler & Ravishankar 1996) over named,
  weighted members: each member scores each key, the highest score owns it. When a
  member joins, only the keys it now wins move (to it); when one leaves, only its
  own keys move. Weights use the logarithmic method (Schindelhauer & Schomaker
  2005): score = weight / -ln(u) with u the key's uniform draw for that member, so
  a member's expected share is its weight over the total. O(members) per key: meant
  for up to ~50 members.
- `jump_hash` (Lamping & Veach 2014) over shards numbered 0..n-1: no table, O(ln n)
  per key, and growing from n to n+1 shards moves 1/(n+1) of the keys, all to the
  new shard. Only the last shard can leave.

Keys are str, bytes or int; a str or bytes key is hashed with BLAKE2b to 64 bits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from corral._errors import InvalidSpec

try:  # CPython's own BLAKE2: `hashlib` would load OpenSSL's libcrypto too (3.6 MiB of RSS)
    from _blake2 import blake2b
except ImportError:  # another interpreter: hashlib's is the same function
    from hashlib import blake2b

__all__ = ["Key", "Rendezvous", "jump_hash", "key_hash"]

Key = str | bytes | int
"""What can be assigned: a str, bytes or a (non-negative 64-bit) int."""

_MASK = (1 << 64) - 1
_UNIT = 1.0 / (1 << 53)
_GOLDEN = 0x9E3779B97F4A7C15
"""2^64 / the golden ratio, odd: Knuth's multiplicative hashing constant."""


def key_hash(key: Key) -> int:
    """`key` as a well-spread unsigned 64-bit integer, the same in every process."""
    if isinstance(key, int):
        return _mix(key & _MASK)
    data = key.encode() if isinstance(key, str) else key
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "little")


def _mix(z: int) -> int:
    """SplitMix64's finaliser: a bijection of 64-bit integers that spreads every bit."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def jump_hash(key: Key, shards: int) -> int:
    """The shard in 0..shards-1 that owns `key` (jump consistent hash).

    Raises:
        InvalidSpec: `shards` is below 1.
    """
    if shards < 1:
        raise InvalidSpec(f"jump_hash needs at least 1 shard, got {shards}")
    state = key_hash(key)
    bucket, jump = -1, 0
    while jump < shards:
        bucket = jump
        state = (state * 2862933555777941757 + 1) & _MASK
        jump = int((bucket + 1) * ((1 << 31) / ((state >> 33) + 1)))
    return bucket


class Rendezvous:
    """Weighted rendezvous hashing over named members; immutable, compared by members.

    Args:
        members: names (all weight 1), or a mapping of name to a positive finite weight.

    Raises:
        InvalidSpec: no member, a weight that is not positive and finite.
    """

    __slots__ = ("_equal", "_members", "_names", "_seeds", "_weights")

    def __init__(self, members: Mapping[str, float] | Iterable[str]) -> None:
        weights: dict[str, float] = (
            dict(members) if isinstance(members, Mapping) else dict.fromkeys(members, 1.0)
        )
        if not weights:
            raise InvalidSpec("a Rendezvous needs at least one member")
        for name, weight in weights.items():
            if not (isinstance(weight, int | float) and math.isfinite(weight) and weight > 0):
                raise InvalidSpec(
                    f"member {name!r}: weight must be positive and finite, got {weight!r}"
                )
        self._members = dict(sorted(weights.items()))
        self._names: tuple[str, ...] = tuple(self._members)
        self._seeds = tuple(key_hash("member:" + name) for name in self._members)
        self._weights = tuple(float(w) for w in self._members.values())
        self._equal = len(set(self._weights)) == 1

    @property
    def members(self) -> Mapping[str, float]:
        """Each member's weight, by name (sorted by name)."""
        return dict(self._members)

    def owner(self, key: Key) -> str:
        """The member that owns `key`."""
        scores = self._scores(key_hash(key))
        return self._names[max(range(len(scores)), key=scores.__getitem__)]

    def ranking(self, key: Key, count: int | None = None) -> list[str]:
        """Members by preference for `key`, best first (the first `count`): replica sets."""
        scores = self._scores(key_hash(key))
        order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
        return [self._names[i] for i in order[:count]]

    def with_member(self, name: str, weight: float = 1.0) -> Rendezvous:
        """These members and `name` (its weight replaced if present)."""
        return Rendezvous({**self._members, name: weight})

    def without(self, name: str) -> Rendezvous:
        """These members but `name` (InvalidSpec if it is not one, or is the last)."""
        if name not in self._members:
            raise InvalidSpec(f"{name!r} is not a member")
        return Rendezvous({n: w for n, w in self._members.items() if n != name})

    def _scores(self, hashed: int) -> Sequence[float]:
        # One multiply and a fold per member: `hashed` is already uniform (BLAKE2b), so
        # a full mixer here would only double the cost of a lookup (this loop is all of it).
        products = [((hashed ^ seed) * _GOLDEN) & _MASK for seed in self._seeds]
        draws = [z ^ (z >> 32) for z in products]
        if self._equal:  # equal weights: the largest draw wins, no logarithm needed
            return draws
        log = math.log
        return [
            weight / -log(((draw >> 11) + 0.5) * _UNIT)
            for draw, weight in zip(draws, self._weights, strict=True)
        ]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rendezvous) and other._members == self._members

    def __hash__(self) -> int:
        return hash(tuple(self._members.items()))

    def __repr__(self) -> str:
        return f"Rendezvous({self._members!r})"
