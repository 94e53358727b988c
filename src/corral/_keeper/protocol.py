"""The keeper's protocol: versioned JSON messages with fds, over a SOCK_SEQPACKET socket.

One message is one datagram: a JSON object carrying `"v": VERSION`, and any fds as
SCM_RIGHTS ancillary data (received close-on-exec). A message of another version, or
that is not a JSON object, is a ProtocolError: the reader acts on nothing in it. Both
sides (the keeper and the daemon's link to it) use these two functions only.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from typing import Any

VERSION = 1
"""The protocol's version; a message with another one is refused."""
MAX_FDS = 250
"""Fds in one message at most (the kernel's SCM_MAX_FD is 253)."""
MAX_MESSAGE = 1 << 20
"""Bytes in one message at most."""
FD_VARIABLE = "CORRAL_KEEPER_FD"
"""The daemon's environment names its end of the socketpair to the keeper here."""
SOCKET_SUFFIX = ".keeper"
"""The keeper's listening socket is the state file's path with this suffix."""

Message = dict[str, Any]


class ProtocolError(Exception):
    """A message that is not this protocol's (another version, not JSON, truncated)."""


def socket_path(state_file: str) -> str:
    """Where the keeper of the daemon whose state file is `state_file` listens."""
    return state_file + SOCKET_SUFFIX


def send(sock: socket.socket, message: Message, fds: Sequence[int] = ()) -> None:
    """Send one message (and `fds`, duplicated into the receiver)."""
    body = json.dumps({"v": VERSION, **message}, separators=(",", ":")).encode()
    if fds:
        socket.send_fds(sock, [body], list(fds))
    else:
        sock.send(body)


def recv(sock: socket.socket) -> tuple[Message, list[int]] | None:
    """The next message and its fds; None at EOF; ProtocolError if it is not ours.

    On a ProtocolError every fd that came with the message is closed first.
    """
    data, fds, flags, _ = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS, socket.MSG_CMSG_CLOEXEC)
    if not data and not fds:
        return None
    try:
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise ProtocolError("a message was truncated")
        try:
            message = json.loads(data)
        except ValueError as exc:
            raise ProtocolError(f"not a keeper message: {exc}") from None
        if not isinstance(message, dict):
            raise ProtocolError("not a keeper message: not a JSON object")
        if message.get("v") != VERSION:
            raise ProtocolError(f"keeper protocol version {message.get('v')!r}, expected {VERSION}")
    except ProtocolError:
        for fd in fds:
            os.close(fd)
        raise
    return message, fds
