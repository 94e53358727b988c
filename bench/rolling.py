"""A rolling restart under load: requests served, failed, and their latency during it.

Usage: python -m bench.rolling [--instances 4] [--rounds 3] [--clients 4] [--json] [--keep]

A real daemon holds one TCP socket on loopback and hands it to `--instances` instances
of a small stdlib HTTP server (written into the scratch directory; `notify = "fd"`, and
it drains on SIGTERM as servers do). `--clients` threads send HTTP/1.0 GETs one after
another for the whole run. Each round does a rolling restart (`POST /v1/restart` with
`rolling`), then, as the baseline, the same length of time with no restart. Per phase:
requests served, failed, and the p50 and p99 latency of one request.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import textwrap
import threading
import time

from bench.daemon.harness import Daemon, percentile, scratch_dir, write_config
from bench.machine import machine

SERVER = """\
import os, signal, socket, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
server.socket.close()
server.socket = socket.socket(fileno=3)
stopping = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopping.set())
threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
fd = int(os.environ["NOTIFY_FD"])
os.write(fd, b"\\n")
os.close(fd)
stopping.wait()
server.shutdown()
"""
MAX_REQUESTS = 1_000_000
"""The load loop's bound per client, beside the stop event."""


def _config(directory: str, instances: int) -> str:
    script = os.path.join(directory, "server.py")
    with open(script, "w", encoding="utf-8") as f:
        f.write(SERVER)
    programs = textwrap.dedent(
        f"""\
        [sockets.web]
        listen = "127.0.0.1:0"
        backlog = 512

        [programs.web]
        command = [{json.dumps(sys.executable)}, {json.dumps(script)}]
        sockets = ["web"]
        numprocs = {instances}
        notify = "fd"
        stop_timeout = 10
        """
    )
    return write_config(directory, programs)


class Load:
    """Client threads timing each request; `mark()` starts a new phase's tally."""

    def __init__(self, address: tuple[str, int], clients: int) -> None:
        self.address = address
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.failed = 0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def mark(self) -> tuple[list[float], int]:
        """The latencies (ms) and failures since the last mark."""
        with self.lock:
            taken, self.latencies = self.latencies, []
            failed, self.failed = self.failed, 0
        return taken, failed

    def _run(self) -> None:
        request = b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n"
        for _ in range(MAX_REQUESTS):
            if self.stop.is_set():
                return
            began = time.perf_counter()
            try:
                with socket.create_connection(self.address, timeout=30) as client:
                    client.sendall(request)
                    reply = b""
                    while chunk := client.recv(4096):
                        reply += chunk
                ok = reply.startswith(b"HTTP/1.0 200")
            except OSError:
                ok = False
            took = (time.perf_counter() - began) * 1000
            with self.lock:
                if ok:
                    self.latencies.append(took)
                else:
                    self.failed += 1


def _bound(daemon: Daemon) -> tuple[str, int]:
    sockets = daemon.request("GET", "/status")["daemon"]["sockets"]
    host, _, port = next(s for s in sockets if s["name"] == "web")["bound"].rpartition(":")
    return host, int(port)


def _phase(name: str, seconds: float, taken: list[float], failed: int) -> dict[str, object]:
    ordered = sorted(taken)
    return {
        "phase": name,
        "seconds": round(seconds, 2),
        "served": len(ordered),
        "failed": failed,
        "p50_ms": round(percentile(ordered, 0.5), 2) if ordered else None,
        "p99_ms": round(percentile(ordered, 0.99), 2) if ordered else None,
    }


def measure(args: argparse.Namespace) -> list[dict[str, object]]:
    """Each round: a rolling restart under load, then as long again without one."""
    rows = []
    with (
        scratch_dir(keep=args.keep) as directory,
        Daemon(_config(directory, args.instances)) as daemon,
    ):
        daemon.wait_states(args.instances, "RUNNING", since=0, timeout=60)
        with Load(_bound(daemon), args.clients) as load:
            for _ in range(args.rounds):
                load.mark()
                began = time.perf_counter()
                daemon.request("POST", "/restart", {"targets": ["web"], "rolling": True})
                took = time.perf_counter() - began
                rows.append(_phase("rolling restart", took, *load.mark()))
                time.sleep(took)  # the baseline: as long again, with nothing restarting
                rows.append(_phase("no restart", took, *load.mark()))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=4, help="instances (4)")
    parser.add_argument("--rounds", type=int, default=3, help="rolling restarts (3)")
    parser.add_argument("--clients", type=int, default=4, help="client threads (4)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    rows = measure(args)
    command = "python -m bench.rolling " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.json:
        print(json.dumps({"command": command, "machine": machine(), "rows": rows}, indent=2))
        return 0
    print(f"# {command.strip()}")
    for key, value in machine().items():
        print(f"# {key}: {value}")
    print(f"{'phase':<16}{'seconds':>9}{'served':>9}{'failed':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for row in rows:
        print(
            f"{row['phase']!s:<16}{row['seconds']!s:>9}{row['served']!s:>9}"
            f"{row['failed']!s:>8}{row['p50_ms']!s:>9}{row['p99_ms']!s:>9}"
        )
    return 0 if all(row["failed"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
