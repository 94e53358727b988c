"""The other end of a channel in tests: a child process started through corral's spawn path.

`python -m tests.ipc.peer MODE ...` with its channel end at fd 3 (a socket) or at
fds 3 and 4 (a pipe pair). Modes:

- `echo socket|pipe`: send back every message until the parent closes, then exit 0.
- `garbage socket`: write bytes that are no frame (a header announcing 3 GiB).
- `half socket`: write the header and half of a frame's body, then exit.
- `connect PATH KIND`: drop to uid/gid 65534 (nobody), connect to the unix socket
  at PATH and print what became of it: "closed" when the listener hung up unread.
- `halfclose socket`: shut down its sending side (a half-open peer), then print
  the one message it receives.
- `fds socket`: receive fds, write "peer-was-here" to each, send back the count.
"""

from __future__ import annotations

import os
import sys

from corral import ipc

NOBODY = 65534


def inherited(how: str) -> ipc.Channel:
    return ipc.from_fds(3) if how == "socket" else ipc.from_fds(3, 4)


def main(argv: list[str]) -> int:
    mode = argv[0]
    if mode == "echo":
        with inherited(argv[1]) as channel:
            while True:
                try:
                    message = channel.recv_bytes(timeout=30)
                except ipc.ChannelClosed:
                    return 0
                channel.send_bytes(message, timeout=30)
    if mode == "garbage":
        os.write(3, b"\xc0\x00\x00\x00not a frame at all")
        return 0
    if mode == "half":
        os.write(3, b"\x00\x00\x00\x10halfway")
        return 0
    if mode == "halfclose":
        import socket

        with inherited("socket") as channel:
            socket.socket(fileno=os.dup(3)).shutdown(socket.SHUT_WR)
            print(channel.recv(timeout=30), flush=True)
        return 0
    if mode == "fds":
        with inherited(argv[1]) as channel:
            _message, fds = channel.recv_fds(timeout=30)
            for fd in fds:
                os.write(fd, b"peer-was-here")
                os.close(fd)
            channel.send(len(fds), timeout=30)
        return 0
    if mode == "connect":
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        try:
            with ipc.connect_unix(argv[1], argv[2], timeout=30) as channel:  # type: ignore[arg-type]
                channel.send("hello", timeout=30)
                channel.recv(timeout=30)
        except ipc.ChannelClosed:
            print("closed", flush=True)
            return 0
        print("answered", flush=True)
        return 0
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
