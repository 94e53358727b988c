"""A TCP echo server in a child process: `python -m tests.ipc.tcp_echo PORT`.

It listens on 127.0.0.1:PORT (0: any), prints the port, and echoes each message on
each connection (a thread per connection) until it is killed.
"""

from __future__ import annotations

import sys
import threading

from corral import ipc


def serve(channel: ipc.Channel) -> None:
    with channel:
        while True:
            try:
                channel.send_bytes(channel.recv_bytes())
            except ipc.ChannelClosed:
                return


def main(port: int) -> None:
    with ipc.listen_tcp("127.0.0.1", port) as listener:
        print(listener.port, flush=True)
        while True:
            threading.Thread(target=serve, args=(listener.accept(),), daemon=True).start()


if __name__ == "__main__":
    main(int(sys.argv[1]))
