"""The other end of a shm ring in tests: `python -m tests.ipc.ring_peer ROLE COUNT FENCED`.

Its ring end is at fds 3, 4, 5. `send`: send COUNT messages, message i being
`pattern(i)`, then close. `recv`: receive until the sender closes, check each
message is `pattern(i)` in order, and print how many came.
"""

from __future__ import annotations

import sys

from corral import ipc


def pattern(index: int) -> bytes:
    """Message `index`: its size varies 0..1999 bytes, so records wrap at every offset."""
    size = (index * 7919) % 2000
    return (index.to_bytes(4, "little") * (size // 4 + 1))[:size]


def main(role: str, count: int, fenced: bool) -> int:
    end = ipc.ring_from_fds(3, 4, 5, "send" if role == "send" else "recv", fenced=fenced)
    with end:
        if role == "send":
            for index in range(count):
                end.send_bytes(pattern(index), timeout=30)
            return 0
        received = 0
        while True:
            try:
                message = end.recv_bytes(timeout=30)
            except ipc.ChannelClosed:
                break
            if message != pattern(received):
                print(f"message {received} is wrong", flush=True)
                return 1
            received += 1
    print(received, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3] == "fenced"))
