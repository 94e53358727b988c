"""A server for health probes: its answers are switched by a file the test writes.

Usage: health_server.py MODE FLAG
MODE "http": every GET is answered 200 with FLAG's contents as the body while FLAG
exists, else 503 "failing" (one answer per connection, then closed). MODE "silent":
accepts connections and never answers them. Binds 127.0.0.1 on a free port, prints
`ready PORT` once it listens, and lives at most 300 s.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path


def answer(conn: socket.socket, flag: Path) -> None:
    """Read the request head, answer by the flag file, close."""
    with conn:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        try:
            status, body = "200 OK", flag.read_bytes()
        except FileNotFoundError:
            status, body = "503 Service Unavailable", b"failing"
        head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        conn.sendall(head.encode() + body)


def main() -> None:
    mode, flag = sys.argv[1], Path(sys.argv[2])
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.settimeout(1.0)
    print(f"ready {listener.getsockname()[1]}", flush=True)
    held: list[socket.socket] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        if mode == "silent":
            held.append(conn)  # never read, never answered
        else:
            threading.Thread(target=answer, args=(conn, flag), daemon=True).start()


if __name__ == "__main__":
    main()
