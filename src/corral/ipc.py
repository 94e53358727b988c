"""IPC façade: framed, encoded messages between processes, sync and async.

One message API (`Channel`: `send`, `recv`, `close`; `AsyncChannel`: the same,
awaited) over an anonymous pipe pair or a unix socketpair (hand one end to a child
with `Command(...).map_fds(*end.child_fds())`, open it there with `from_fds`), a
named FIFO, a shared-memory ring (`ring`: one sender, one receiver, a memfd handed
over as an fd), a unix socket (stream or seqpacket, with the peer's credentials, a
listener's `allow`, and fd passing) and TCP. Every blocking call takes a timeout
(`ChannelTimeout`); a peer that hangs up is `ChannelClosed`; a frame over the limit
is `FrameTooLarge`, refused on its header. Messages are msgpack by msgspec unless a
channel is given another codec (`Raw`, `Json`, `Pickle`). `transfer` and
`Channel.send_file` move file bytes in the kernel (sendfile, splice) where it can.
"""

from __future__ import annotations

from corral._errors import (
    ChannelClosed,
    ChannelError,
    ChannelTimeout,
    CodecError,
    FrameError,
    FrameTooLarge,
    PeerRefused,
    TruncatedFrame,
)
from corral._ipc.async_channel import AsyncChannel
from corral._ipc.async_ring import AsyncRingEnd
from corral._ipc.channel import Channel, Peer
from corral._ipc.codecs import Codec, Json, Msgpack, Pickle, Raw
from corral._ipc.framing import MAX_FRAME
from corral._ipc.ring import RingEnd, ring, ring_from_fds
from corral._ipc.tcp_pool import ConnectionPool
from corral._ipc.transports import (
    Listener,
    connect_tcp,
    connect_tcp_async,
    connect_unix,
    connect_unix_async,
    from_fds,
    listen_tcp,
    listen_unix,
    make_fifo,
    open_fifo,
    pipe,
    socketpair,
)
from corral._ipc.zerocopy import Transfer, transfer

__all__ = [
    "MAX_FRAME",
    "AsyncChannel",
    "AsyncRingEnd",
    "Channel",
    "ChannelClosed",
    "ChannelError",
    "ChannelTimeout",
    "Codec",
    "CodecError",
    "ConnectionPool",
    "FrameError",
    "FrameTooLarge",
    "Json",
    "Listener",
    "Msgpack",
    "Peer",
    "PeerRefused",
    "Pickle",
    "Raw",
    "RingEnd",
    "Transfer",
    "TruncatedFrame",
    "connect_tcp",
    "connect_tcp_async",
    "connect_unix",
    "connect_unix_async",
    "from_fds",
    "listen_tcp",
    "listen_unix",
    "make_fifo",
    "open_fifo",
    "pipe",
    "ring",
    "ring_from_fds",
    "socketpair",
    "transfer",
]
