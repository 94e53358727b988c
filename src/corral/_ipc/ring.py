"""A shared-memory SPSC ring: one sender process, one receiver process, bounded messages.

The memory is a memfd (`os.memfd_create`): it has no name in any filesystem, so
nothing can leak it or unlink it under the other process (no resource tracker,
python/cpython#82300); it is handed to the other process as an fd, with two
eventfds for wakeups (data ready; space free). `ring()` makes the pair of ends;
`RingEnd.child_fds()` and `ring_from_fds()` move one end to a child.

Layout: a 4 KiB control page, then `capacity` bytes of data (a power of two).
Control words are 8-byte, 8-aligned, each on its own 64-byte line: `tail` (bytes
published, written by the sender only), `head` (bytes consumed, written by the
receiver only), a waiting flag for each side and a closed flag for each side.
A record is a 4-byte length and the payload, padded to 8 bytes, so a header never
wraps; a payload may (it is copied in two pieces).

Protocol: the sender copies the record into free space (`capacity - (tail -
head)`), then stores the new `tail`; the receiver reads `tail`, copies the
record out, then stores the new `head`. A side with nothing to do sets its waiting
flag, re-reads the other side's word, and sleeps on its eventfd; the other side
writes that eventfd after publishing if it sees the flag.

Memory ordering, honestly: CPython has no atomics or fences. The ring relies on
an aligned 8-byte store or load through a `memoryview` cast to "Q" being one
machine store or load (CPython copies 8 bytes with memcpy; compilers emit one
`mov`/`str` for it, which x86-64 and aarch64 make single-copy atomic when aligned),
and, on x86-64, on TSO: stores become visible in program order and loads are not
reordered with older loads, so a receiver that sees `tail` sees the record before
it. On other machines (aarch64 reorders stores) the ring is *fenced*: every
publish and every consume also goes through the eventfd, whose kernel lock
orders the memory (release on write, acquire on read), and a side reads the
other's word only after reading that eventfd; correct, but a syscall per message.
Even TSO reorders a store with a later load, so the waiting flag can be missed in
one interleaving (Dekker's problem); a sleeping side therefore re-checks every
`RECHECK` seconds: a missed wakeup costs that much latency, never a message.
A peer that dies without closing is not noticed by the ring: a recv waits for its
timeout (ChannelTimeout); watch the process for its death.
"""

from __future__ import annotations

import mmap
import os
import platform
import select
import struct
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Literal

from corral._errors import ChannelClosed, ChannelError, ChannelTimeout, FrameError, FrameTooLarge
from corral._ipc.channel import DEFAULT, _Default
from corral._ipc.codecs import Codec, Msgpack

CONTROL = 4096
"""Bytes of the control page before the data."""
_TAIL, _HEAD, _RECV_WAITING, _SEND_WAITING, _SEND_CLOSED, _RECV_CLOSED, _CAPACITY = (
    8 * n for n in range(7)
)  # indexes into the control page viewed as uint64s: one 64-byte line each
_LEN = 4
_SIZE = struct.Struct("<I")
RECHECK = 0.01
SPINS = 200
"""Times an unfenced side re-reads the other's word before it sleeps (tens of µs):
a peer on another CPU usually moves within that, and a sleep costs two syscalls."""
"""Seconds a sleeping side waits before it looks again (a missed wakeup's whole cost)."""
FENCED_BY_DEFAULT = platform.machine().lower() not in ("x86_64", "amd64")
"""True where the CPU may reorder stores (not x86-64): every message takes the eventfd."""

Role = Literal["send", "recv"]
_GONE = {"send": "the receiver closed the ring", "recv": "the sender closed the ring, now empty"}


def _drain(fd: int) -> bool:
    """Read (and so reset) an eventfd's count; False when it was 0."""
    try:
        os.eventfd_read(fd)
    except BlockingIOError:
        return False
    return True


def _pad(size: int) -> int:
    return (size + 7) & ~7


class RingEnd:
    """One end of a shared-memory ring: it sends or it receives, with `Channel`'s API."""

    def __init__(
        self,
        memfd: int,
        data_fd: int,
        space_fd: int,
        role: Role,
        *,
        codec: Codec | None = None,
        timeout: float | None = None,
        fenced: bool | None = None,
    ) -> None:
        self.role: Role = role
        self.codec: Codec = codec if codec is not None else Msgpack()
        self.timeout = timeout
        self.fenced = FENCED_BY_DEFAULT if fenced is None else fenced
        """Every message also goes through the eventfd (the ordering on non-TSO CPUs)."""
        self._fds = (memfd, data_fd, space_fd)
        size = os.fstat(memfd).st_size
        self._map = mmap.mmap(memfd, size)
        self._ctl = memoryview(self._map)[:CONTROL].cast("Q")
        self.capacity = self._ctl[_CAPACITY]
        """Bytes of data space; a message is at most `max_frame` bytes."""
        if self.capacity < 64 or CONTROL + self.capacity != size:
            raise ChannelError(f"fd {memfd} does not hold a corral ring ({size} bytes)")
        self.max_frame = self.capacity - 8
        self._data = memoryview(self._map)[CONTROL:]
        self._mask = self.capacity - 1
        self.what = f"shm ring ({self.capacity} bytes, {role} end)"
        self._closed = False
        # the word this end writes, cached (nobody else writes it), and the other's as seen
        self._mine = int(self._ctl[_TAIL] if role == "send" else self._ctl[_HEAD])
        self._seen = int(self._ctl[_HEAD] if role == "send" else self._ctl[_TAIL])
        if self.fenced:
            self._seen = self._mine if role == "recv" else self._seen

    # -- sending ---------------------------------------------------------------------

    def send(self, message: Any, timeout: float | _Default | None = DEFAULT) -> None:
        """Encode `message` and copy it into the ring (waiting for space up to `timeout`)."""
        self.send_bytes(self.codec.encode(message), timeout)

    def send_bytes(self, payload: bytes, timeout: float | _Default | None = DEFAULT) -> None:
        """Copy `payload` into the ring as one message."""
        self._check("send")
        self._put(payload, timeout)
        self._publish()

    def send_many(
        self, messages: Sequence[Any], timeout: float | _Default | None = DEFAULT
    ) -> None:
        """Encode and copy in `messages`, publishing `tail` once for the batch (and
        whenever the ring fills, before waiting for space)."""
        self.send_many_bytes([self.codec.encode(message) for message in messages], timeout)

    def send_many_bytes(
        self, payloads: Sequence[bytes], timeout: float | _Default | None = DEFAULT
    ) -> None:
        """Copy in each payload as one message; one publish for the batch."""
        self._check("send")
        for payload in payloads:
            self._put(payload, timeout)
        self._publish()

    def _publish(self) -> None:
        """Make every record copied in so far visible: store `tail`, wake a waiting receiver."""
        ctl = self._ctl
        ctl[_TAIL] = self._mine  # the records' bytes were stored before this
        if self.fenced or ctl[_RECV_WAITING]:
            os.eventfd_write(self._fds[1], 1)

    def _put(self, payload: bytes, timeout: float | _Default | None) -> None:
        """Copy one record in after `_mine` (published later by `_publish`)."""
        size = len(payload)
        if size > self.max_frame:
            raise FrameTooLarge(size, self.max_frame)
        need = _pad(_LEN + size)
        tail = self._mine
        if self.capacity - (tail - self._seen) < need:
            if self._ctl[_TAIL] != tail:
                self._publish()  # the receiver must see what is in before we wait on it
            self._await(lambda head: self.capacity - (tail - head) >= need, timeout, "send")
        start = CONTROL + (tail & self._mask)  # offsets into the mmap itself (the fast path)
        memory = self._map
        _SIZE.pack_into(memory, start, size)
        body = CONTROL + ((tail + _LEN) & self._mask)
        first = min(size, CONTROL + self.capacity - body)
        if first == size:
            memory[body : body + size] = payload
        else:
            view = memoryview(payload)  # slices of a view copy nothing
            memory[body : body + first] = view[:first]
            memory[CONTROL : CONTROL + size - first] = view[first:]
        self._mine = tail + need

    # -- receiving -------------------------------------------------------------------

    def recv(self, timeout: float | _Default | None = DEFAULT) -> Any:
        """The next message, decoded; ChannelClosed once the sender closed and it is empty."""
        return self.codec.decode(self.recv_bytes(timeout))

    def recv_bytes(self, timeout: float | _Default | None = DEFAULT) -> bytes:
        """The next message's bytes (a copy out of the ring)."""
        head, size, body, first = self._next(timeout)
        payload = bytes(self._data[body : body + first])
        if first < size:
            payload += bytes(self._data[: size - first])
        self._release(head, size)
        return payload

    def recv_many(self, limit: int = 1024, timeout: float | _Default | None = DEFAULT) -> list[Any]:
        """Every message in the ring now, up to `limit` (at least one: waits for it), decoded."""
        return [self.codec.decode(data) for data in self.recv_many_bytes(limit, timeout)]

    def recv_many_bytes(
        self, limit: int = 1024, timeout: float | _Default | None = DEFAULT
    ) -> list[bytes]:
        """Every message's bytes in the ring now, up to `limit` (waiting for the first);
        the space is given back once for the batch."""
        self._check("recv")
        head = self._mine
        if self._seen == head:
            self._await(lambda tail: tail != head, timeout, "recv")
        tail = self._seen
        if tail - head > self.capacity:
            raise FrameError(f"{self.what}: corrupt control words (tail {tail}, head {head})")
        data, mask, capacity, largest = self._data, self._mask, self.capacity, self.max_frame
        out: list[bytes] = []
        while head != tail and len(out) < limit:
            start = head & mask
            size = int.from_bytes(data[start : start + _LEN], "little")
            if size > largest or _pad(_LEN + size) > tail - head:
                raise FrameError(
                    f"{self.what}: a record of {size} bytes in {tail - head} published"
                )
            body = (start + _LEN) & mask
            first = min(size, capacity - body)
            payload = bytes(data[body : body + first])
            if first < size:
                payload += bytes(data[: size - first])
            out.append(payload)
            head += _pad(_LEN + size)
        self._give_back(head)
        return out

    def recv_into(
        self, buffer: bytearray | memoryview, timeout: float | _Default | None = DEFAULT
    ) -> int:
        """Copy the next message into `buffer` (reused by the caller: no allocation per
        message) and return its size; a buffer too small is a ChannelError and the
        message stays in the ring."""
        head, size, body, first = self._next(timeout)
        if size > len(buffer):
            raise ChannelError(
                f"{self.what}: a {size}-byte message for a {len(buffer)}-byte buffer"
            )
        target = memoryview(buffer)
        target[:first] = self._data[body : body + first]
        if first < size:
            target[first:size] = self._data[: size - first]
        self._release(head, size)
        return size

    def _next(self, timeout: float | _Default | None) -> tuple[int, int, int, int]:
        """Wait for the next record: (head, payload size, body offset, bytes before the wrap)."""
        self._check("recv")
        head = self._mine
        if self._seen == head:
            self._await(lambda tail: tail != head, timeout, "recv")
        tail = self._seen
        if tail - head > self.capacity:
            raise FrameError(f"{self.what}: corrupt control words (tail {tail}, head {head})")
        start = head & self._mask
        (size,) = _SIZE.unpack_from(self._map, CONTROL + start)
        if size > self.max_frame or _pad(_LEN + size) > tail - head:
            raise FrameError(f"{self.what}: a record of {size} bytes in {tail - head} published")
        body = (start + _LEN) & self._mask
        return head, size, body, min(size, self.capacity - body)

    def _release(self, head: int, size: int) -> None:
        """Give the record of `size` bytes at `head` back to the sender (copied out)."""
        self._give_back(head + _pad(_LEN + size))

    def _give_back(self, head: int) -> None:
        """Store the new `head`: the space before it is the sender's again."""
        self._mine = head
        ctl = self._ctl
        ctl[_HEAD] = self._mine
        if self.fenced or ctl[_SEND_WAITING]:
            os.eventfd_write(self._fds[2], 1)

    # -- waiting ---------------------------------------------------------------------

    def _await(self, ok: Callable[[int], bool], given: float | _Default | None, call: Role) -> None:
        """Wait until the other side's word satisfies `ok`; it is then in `_seen`.

        Unfenced: read the word; else flag ourselves waiting, read it again (the
        other side may have published before it saw the flag), sleep on our eventfd
        for up to RECHECK. Fenced: trust the word only after reading the eventfd.
        """
        ctl = self._ctl
        word, waiting, gone = (
            (_HEAD, _SEND_WAITING, _RECV_CLOSED)
            if call == "send"
            else (_TAIL, _RECV_WAITING, _SEND_CLOSED)
        )
        fd = self._fds[2 if call == "send" else 1]
        timeout = self.timeout if isinstance(given, _Default) else given
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self.fenced:  # the other side is likely busy on its own CPU: look a while
            for _ in range(SPINS):
                self._seen = int(ctl[word])
                if ok(self._seen):
                    return
        try:
            while True:
                woken = _drain(fd) if self.fenced else True
                if woken:
                    self._seen = int(ctl[word])
                    if ok(self._seen):
                        return
                if not self.fenced and not ctl[waiting]:
                    ctl[waiting] = 1  # then look once more before sleeping
                    continue
                if ctl[gone]:
                    raise ChannelClosed(self.what, _GONE[call])
                left = RECHECK if deadline is None else min(RECHECK, deadline - time.monotonic())
                if left <= 0:
                    raise ChannelTimeout(self.what, call, timeout or 0.0)
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                poller.poll(max(1, int(left * 1000)))
                if not self.fenced:
                    _drain(fd)
        finally:
            if not self.fenced:
                ctl[waiting] = 0

    def _words(self, call: Role) -> tuple[int, int, int, int]:
        """(the other side's word, our waiting flag, the other's closed flag, our eventfd)."""
        if call == "send":
            return _HEAD, _SEND_WAITING, _RECV_CLOSED, self._fds[2]
        return _TAIL, _RECV_WAITING, _SEND_CLOSED, self._fds[1]

    def _look(self, ok: Callable[[int], bool], call: Role) -> bool:
        """One non-blocking look (for an AsyncRingEnd): True when `ok` holds (`_seen`
        updated); else our waiting flag is left set, so the other side will signal."""
        word, waiting, _gone, fd = self._words(call)
        ctl = self._ctl
        if self.fenced and not _drain(fd):
            return False
        self._seen = int(ctl[word])
        if ok(self._seen):
            return True
        if not self.fenced and not ctl[waiting]:
            ctl[waiting] = 1
            self._seen = int(ctl[word])
            return ok(self._seen)
        return False

    def _done_waiting(self, call: Role) -> None:
        if not self.fenced:
            self._ctl[self._words(call)[1]] = 0

    # -- ends ------------------------------------------------------------------------

    def _check(self, call: Role) -> None:
        if self._closed:
            raise ChannelClosed(self.what, f"{call} on a ring end we closed")
        if call != self.role:
            raise ChannelError(f"{self.what}: this end only {self.role}s")
        if call == "send" and self._ctl[_RECV_CLOSED]:
            raise ChannelClosed(self.what, "the receiver closed the ring")

    def fds(self) -> tuple[int, int, int]:
        """(memfd, data eventfd, space eventfd): what `ring_from_fds` takes."""
        return self._fds

    def child_fds(self, start: int = 3) -> tuple[tuple[int, int], ...]:
        """(our fd, child fd) pairs giving this end to a child at `start`..`start + 2`:
        `Command(...).map_fds(*end.child_fds())`; the child calls
        `ring_from_fds(3, 4, 5, role)`."""
        return tuple((fd, start + index) for index, fd in enumerate(self._fds))

    @property
    def closed(self) -> bool:
        """`close` was called on this end."""
        return self._closed

    def close(self) -> None:
        """Tell the other end (it sees ChannelClosed once drained) and unmap; idempotent."""
        if self._closed:
            return
        self._ctl[_SEND_CLOSED if self.role == "send" else _RECV_CLOSED] = 1
        os.eventfd_write(self._fds[1 if self.role == "send" else 2], 1)
        self.close_here()

    def close_here(self) -> None:
        """Unmap and close our fds *without* telling the other end: after handing this
        end to a child (`child_fds`), whose copy goes on. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._ctl.release()
        self._data.release()
        self._map.close()
        for fd in self._fds:
            os.close(fd)

    def __enter__(self) -> RingEnd:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RingEnd {self.what}{' closed' if self._closed else ''}>"


def ring(
    capacity: int = 1 << 20,
    codec: Codec | None = None,
    timeout: float | None = None,
    *,
    fenced: bool | None = None,
) -> tuple[RingEnd, RingEnd]:
    """A new ring of `capacity` data bytes (a power of two, 64 or more): (sender, receiver).

    Each end holds its own fds (the memfd and both eventfds, duplicated), so one can
    be handed to a child and closed here.
    """
    if capacity < 64 or capacity & (capacity - 1):
        raise ChannelError(f"a ring's capacity is a power of two of 64 or more, not {capacity}")
    memfd = os.memfd_create("corral-ring", os.MFD_CLOEXEC)
    data_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    space_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    os.ftruncate(memfd, CONTROL + capacity)
    with mmap.mmap(memfd, CONTROL) as control:
        control[_CAPACITY * 8 : _CAPACITY * 8 + 8] = capacity.to_bytes(8, "little")
    sender = RingEnd(memfd, data_fd, space_fd, "send", codec=codec, timeout=timeout, fenced=fenced)
    receiver = RingEnd(
        os.dup(memfd),
        os.dup(data_fd),
        os.dup(space_fd),
        "recv",
        codec=codec,
        timeout=timeout,
        fenced=fenced,
    )
    return sender, receiver


def ring_from_fds(
    memfd: int,
    data_fd: int,
    space_fd: int,
    role: Role,
    *,
    codec: Codec | None = None,
    timeout: float | None = None,
    fenced: bool | None = None,
) -> RingEnd:
    """The ring end a parent handed us at these fds (`RingEnd.child_fds`)."""
    return RingEnd(memfd, data_fd, space_fd, role, codec=codec, timeout=timeout, fenced=fenced)
