"""Serve HTTP on the socket handed over as fd 3 (systemd socket activation), say who answers.

Usage: listen_http.py
Serves every socket handed over (fds 3 ... 3 + LISTEN_FDS - 1), each on a thread.
Checks LISTEN_PID against its own pid and LISTEN_FDS, as sd_listen_fds(3) does, then
prints `ready` and answers every GET with one JSON line: its pid, the fds it started
with, LISTEN_PID,
LISTEN_FDS and LISTEN_FDNAMES as it found them. It never binds anything itself. With
NOTIFY_FD set (notify = "fd"), it writes its readiness newline there once it serves.
On SIGTERM it drains, as servers do for a graceful stop: it accepts nothing more (what
waits in the shared backlog goes to another instance), finishes the request it is
answering, and exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

FIRST = 3


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(REPORT).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _open_fds() -> list[int]:
    """The fds open now, found with fstat (listing /proc/self/fd would open one more)."""
    found = []
    for fd in range(256):
        try:
            os.fstat(fd)
        except OSError:
            continue
        found.append(fd)
    return found


REPORT = {
    "pid": os.getpid(),
    "fds": _open_fds(),
    "listen_pid": os.environ.get("LISTEN_PID"),
    "listen_fds": os.environ.get("LISTEN_FDS"),
    "listen_fdnames": os.environ.get("LISTEN_FDNAMES"),
    "notify_fd": os.environ.get("NOTIFY_FD"),
}


def _server(fd: int) -> HTTPServer:
    """An HTTP server on the listening socket `fd` (it binds nothing)."""
    listener = socket.socket(fileno=fd)
    server = HTTPServer(("127.0.0.1", 0), _Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = listener
    return server


def main() -> None:
    if REPORT["listen_pid"] != str(os.getpid()) or not REPORT["listen_fds"]:
        sys.exit(f"not socket-activated: {REPORT}")
    servers = [_server(fd) for fd in range(FIRST, FIRST + int(str(REPORT["listen_fds"])))]
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signo, frame: stopping.set())
    threads = [
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        for server in servers
    ]
    for thread in threads:
        thread.start()
    if REPORT["notify_fd"] is not None:  # s6 readiness, numbered after the sockets
        os.write(int(str(REPORT["notify_fd"])), b"\n")
        os.close(int(str(REPORT["notify_fd"])))
    print("ready", flush=True)
    stopping.wait()
    for server in servers:
        server.shutdown()  # returns once its serve_forever loop has ended
    sys.exit(0)


if __name__ == "__main__":
    main()
