"""What `logs` and `logs -f` cost the daemon, measured on a real daemon's resident memory.

A follower that never reads, and a log that is one 256 MiB line, are what a careless
or hostile client meets on any busy machine; neither may grow the daemon by more
than a few MiB (the follower bound is 1 MiB, a cut line 64 KiB).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from corral._supervisor.operations import FELL_BEHIND
from tests.support.daemon import Daemon, running_daemon
from tests.support.waiting import DEADLINE

MiB = 1024 * 1024
GROWTH_ALLOWED = 24 * MiB
"""Peak growth the tests tolerate: the bounds plus the allocator's and the flood's slack
(the old follower queue held up to 64 MiB, the old tail the whole line)."""


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _daemon_pid(daemon: Daemon) -> int:
    assert daemon.process is not None
    return daemon.process.pid


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS now


def _open_follower(daemon: Daemon, target: str) -> socket.socket:
    """A client that asks to follow `target`, reads the reply's head, then reads no more."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.settimeout(DEADLINE)
    client.connect(daemon.socket)
    client.sendall(f"GET /v1/logs/{target}/follow HTTP/1.1\r\nHost: corral\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += client.recv(1)
    assert head.startswith(b"HTTP/1.1 200"), head
    return client


def _read_body(client: socket.socket, limit: int) -> bytes:
    """The rest of a chunked reply, framing included, up to its last (empty) chunk."""
    received = bytearray()
    deadline = time.monotonic() + DEADLINE
    while not received.endswith(b"\r\n0\r\n\r\n"):
        assert len(received) < limit, "the stream went on past everything the program wrote"
        assert time.monotonic() < deadline, "the stream did not end"
        data = client.recv(256 * 1024)
        assert data, "the daemon hung up without ending the stream"
        received += data
    return bytes(received)


def test_a_follower_that_never_reads_is_cut_off_at_a_bounded_cost(tmp_path: Path) -> None:
    flood = 96 * MiB
    programs = f"""
        [programs.flood]
        command = ["dd", "if=/dev/zero", "bs=64k", "count={flood // (64 * 1024)}", "status=none"]
        autostart = false
        start_seconds = 0
        restart = "never"
        logs = {{ timestamps = false, max_bytes = "8M", backups = 1 }}
    """
    with running_daemon(tmp_path, programs) as daemon:
        pid = _daemon_pid(daemon)
        client = _open_follower(daemon, "flood:0")
        with client:
            _reset_peak(pid)
            before = _memory_kib(pid, "VmRSS") * 1024
            daemon.call("POST", "/start", {"targets": ["flood"]})
            daemon.wait_state("flood:0", "EXITED")
            peak = _memory_kib(pid, "VmHWM") * 1024
            after = _memory_kib(pid, "VmRSS") * 1024
            received = _read_body(client, flood + MiB)
        assert FELL_BEHIND in received  # told, then the stream ended
        assert len(received) < 8 * MiB  # what the socket buffers and the bound held, no more
        assert peak - before < GROWTH_ALLOWED, f"the daemon grew by {(peak - before) / MiB:.1f} MiB"
        assert after - before < GROWTH_ALLOWED


def test_logs_n_1_of_a_256_mib_line_returns_its_cut_end_without_reading_it(
    tmp_path: Path,
) -> None:
    programs = """
        [programs.quiet]
        command = ["sleep", "300"]
        start_seconds = 0
        logs = { timestamps = false }
    """
    daemon = Daemon(tmp_path, programs)
    log = daemon.log_path("quiet:0")
    log.parent.mkdir(mode=0o750)
    with log.open("wb") as file:  # sparse: one 256 MiB line without using the disk
        file.truncate(256 * MiB - len(b"the end\n"))
        file.seek(0, os.SEEK_END)
        file.write(b"the end\n")
    daemon.start()
    try:
        pid = _daemon_pid(daemon)
        _reset_peak(pid)
        before = _memory_kib(pid, "VmRSS") * 1024
        (line,) = daemon.call("GET", "/logs/quiet:0", lines="1")["lines"]
        peak = _memory_kib(pid, "VmHWM") * 1024
    finally:
        daemon.stop()
    assert line.startswith("[cut] ")
    assert line.endswith("\0the end")
    assert len(line) == len("[cut] ") + 64 * 1024
    assert peak - before < GROWTH_ALLOWED, f"the daemon grew by {(peak - before) / MiB:.1f} MiB"
