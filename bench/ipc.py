"""corral.ipc beside multiprocessing, pyzmq, pynng and the raw floors, in one run.

Usage: python -m bench.ipc [--n N] [--quick]

Every figure pairs this process (pinned to CPU 0) with a forked peer (pinned to
CPU 1, `os.sched_setaffinity`; on a one-CPU machine both share CPU 0, and the run
says so). Payloads are bytes, sent raw (`codec=Raw()`), so transports are compared
as transports; the codec has its own figure. Figures (issue 15's targets):

- a 100-byte round trip per transport, µs (each transport >= 0.8x its raw Python
  floor; corral faster than multiprocessing.Pipe and >= 2x faster than pyzmq, pynng);
- one-way 64 B messages, batched (corral: `send_many` of 64 messages a call, and the
  ring's receiver `recv_many`; the others, which have no batch call, one call a
  message; one reply at the end),
  messages per second (>= 0.5x the C pipe floor, one write and one read a message);
- the shm ring against a socketpair channel at 64 B batched (>= 2x);
- the shm ring's bandwidth with 1 MiB messages against a memcpy floor (>= 0.5x);
- a codec round trip (encode + decode) of a small typed message against msgspec's
  own encoder and decoder (<= 2x).

Each round-trip and one-way figure is the best of 3 rounds (the transports
interleaved in each round), the least disturbed by whatever else the machine runs.
Floors: a C pipe ping-pong (compiled with gcc when it exists; skipped with a message
otherwise), a raw Python socketpair loop, a raw os.pipe loop and a raw TCP loop (no
framing), and ctypes.memmove for memcpy. The machine may be busy: absolute figures
move between runs; the ratios, measured in the same run, are what count.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from corral import ipc

Send = Callable[[bytes], None]
Recv = Callable[[], bytes]
Ends = tuple[Send, Recv]
CPUS = sorted(os.sched_getaffinity(0))
PARENT_CPU = CPUS[0]
CHILD_CPU = CPUS[1] if len(CPUS) > 1 else CPUS[0]
WARM = 200
ROUNDS = 3
BATCH = 64
"""Messages per send_many call in the one-way figure (corral's transports)."""
"""Each figure is the best of this many rounds, the transports interleaved in each."""


@dataclass
class Transport:
    """How to make a pair of ends: `setup` before the fork, then each side's ends."""

    name: str
    setup: Callable[[], Any]
    parent: Callable[[Any], Ends]
    child: Callable[[Any], Ends]
    floor: str = ""
    batch: Callable[[Any], Callable[[list[bytes]], None]] | None = None
    """The parent's send_many, where the transport has one (corral's)."""
    drain: Callable[[Any], Callable[[], list[bytes]]] | None = None
    """The child's recv_many, where the transport has one (the ring's)."""
    isolate: bool = False
    """Measure in a fresh forked driver: the library must not be initialised before a
    fork (nng panics in a forked child of a process that used it)."""


def _channel_ends(channel: ipc.Channel) -> Ends:
    return channel.send_bytes, channel.recv_bytes


def corral_pipe() -> Transport:
    return Transport(
        "corral pipe",
        lambda: ipc.pipe(codec=ipc.Raw()),
        lambda s: _channel_ends(s[0]),
        lambda s: _channel_ends(s[1]),
        "raw os.pipe",
        batch=lambda s: s[0].send_many_bytes,
    )


def corral_socketpair(kind: str) -> Transport:
    return Transport(
        f"corral unix {kind}",
        lambda: ipc.socketpair(kind, codec=ipc.Raw()),  # type: ignore[arg-type]
        lambda s: _channel_ends(s[0]),
        lambda s: _channel_ends(s[1]),
        "raw socketpair",
        batch=lambda s: s[0].send_many_bytes,
    )


def corral_tcp() -> Transport:
    def setup() -> tuple[ipc.Channel, ipc.Channel]:
        with ipc.listen_tcp(codec=ipc.Raw()) as listener:
            client = ipc.connect_tcp("127.0.0.1", listener.port, codec=ipc.Raw(), timeout=5)
            return client, listener.accept(timeout=5)

    return Transport(
        "corral tcp",
        setup,
        lambda s: _channel_ends(s[0]),
        lambda s: _channel_ends(s[1]),
        "raw tcp",
        batch=lambda s: s[0].send_many_bytes,
    )


def corral_ring(capacity: int = 1 << 16) -> Transport:
    def setup() -> tuple[tuple[ipc.RingEnd, ipc.RingEnd], tuple[ipc.RingEnd, ipc.RingEnd]]:
        return ipc.ring(capacity, codec=ipc.Raw()), ipc.ring(capacity, codec=ipc.Raw())

    return Transport(
        "corral shm ring",
        setup,
        lambda s: (s[0][0].send_bytes, s[1][1].recv_bytes),
        lambda s: (s[1][0].send_bytes, s[0][1].recv_bytes),
        "raw socketpair",
        batch=lambda s: s[0][0].send_many_bytes,
        drain=lambda s: s[0][1].recv_many_bytes,
    )


def raw_socketpair() -> Transport:
    def ends(sock: socket.socket) -> Ends:
        return sock.sendall, lambda: sock.recv(65536)

    return Transport(
        "raw socketpair", socket.socketpair, lambda s: ends(s[0]), lambda s: ends(s[1])
    )


def raw_pipe() -> Transport:
    def ends(read_fd: int, write_fd: int) -> Ends:
        def send(data: bytes) -> None:
            os.write(write_fd, data)

        return send, lambda: os.read(read_fd, 65536)

    def setup() -> tuple[tuple[int, int], tuple[int, int]]:
        return os.pipe(), os.pipe()

    return Transport(
        "raw os.pipe",
        setup,
        lambda s: ends(s[1][0], s[0][1]),
        lambda s: ends(s[0][0], s[1][1]),
    )


def raw_tcp() -> Transport:
    def setup() -> tuple[socket.socket, socket.socket]:
        with socket.create_server(("127.0.0.1", 0)) as server:
            client = socket.create_connection(server.getsockname())
            accepted, _ = server.accept()
        for sock in (client, accepted):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client, accepted

    def ends(sock: socket.socket) -> Ends:
        return sock.sendall, lambda: sock.recv(65536)

    return Transport("raw tcp", setup, lambda s: ends(s[0]), lambda s: ends(s[1]))


def mp_pipe() -> Transport:
    import multiprocessing

    def ends(conn: Any) -> Ends:
        return conn.send_bytes, conn.recv_bytes

    return Transport(
        "multiprocessing.Pipe",
        multiprocessing.Pipe,
        lambda s: ends(s[0]),
        lambda s: ends(s[1]),
    )


def mp_queue() -> Transport:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    return Transport(
        "multiprocessing.Queue",
        lambda: (context.Queue(), context.Queue()),
        lambda s: (s[0].put, s[1].get),
        lambda s: (s[1].put, s[0].get),
    )


def pyzmq() -> Transport | None:
    try:
        import zmq
    except ImportError:
        return None

    def ends(address: str, bind: bool) -> Ends:
        sock = zmq.Context().socket(zmq.PAIR)
        if bind:
            sock.bind(address)
        else:
            sock.connect(address)
        return sock.send, sock.recv

    return Transport(
        f"pyzmq {zmq.__version__} PAIR ipc",
        _address,
        lambda a: ends(a, True),
        lambda a: ends(a, False),
        isolate=True,
    )


def nng() -> Transport | None:
    try:
        import pynng  # type: ignore[import-untyped]
    except ImportError:
        return None

    def ends(address: str, listen: bool) -> Ends:
        sock = pynng.Pair0()
        if listen:
            sock.listen(address)
        else:
            sock.dial(address, block=False)  # nng retries until the listener is there
        return sock.send, sock.recv

    return Transport(
        "pynng Pair0 ipc",
        _address,
        lambda a: ends(a, True),
        lambda a: ends(a, False),
        isolate=True,
    )


def _address() -> str:
    """A fresh ipc:// address for each measurement (a socket path in a new directory)."""
    return f"ipc://{tempfile.mkdtemp(prefix='bench-ipc-')}/socket"


# -- running a figure ---------------------------------------------------------------


def _peer(work: Callable[[], None]) -> None:
    os.sched_setaffinity(0, {CHILD_CPU})
    work()


def _fork(work: Callable[[], None]) -> Any:
    """`work` in a forked peer pinned to CHILD_CPU (multiprocessing's fork, so its
    after-fork hooks run: a Queue needs them)."""
    import multiprocessing

    process = multiprocessing.get_context("fork").Process(target=_peer, args=(work,))
    process.start()
    return process


def _reap(process: Any) -> None:
    process.join(120)
    if process.exitcode != 0:
        raise SystemExit(f"a bench peer failed (exit code {process.exitcode})")


def measured(figure: Callable[[Transport, int], float], transport: Transport, n: int) -> float:
    """`figure(transport, n)`, here or (`isolate`) in a forked driver pinned like us."""
    if not transport.isolate:
        return figure(transport, n)
    import multiprocessing

    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)

    def drive() -> None:
        sending.send(figure(transport, n))

    driver = context.Process(target=drive)
    driver.start()
    value = float(receiving.recv())
    _reap(driver)
    return value


def round_trip(transport: Transport, n: int, size: int = 100) -> float:
    """µs per round trip of `size` bytes."""
    state = transport.setup()
    message = b"x" * size

    def echo() -> None:
        send, recv = transport.child(state)
        for _ in range(n + WARM):
            send(recv())

    pid = _fork(echo)
    send, recv = transport.parent(state)
    for _ in range(WARM):
        send(message)
        recv()
    started = time.perf_counter()
    for _ in range(n):
        send(message)
        recv()
    elapsed = time.perf_counter() - started
    _reap(pid)
    return elapsed / n * 1e6


def one_way(transport: Transport, n: int, size: int = 64) -> float:
    """Messages per second, `size` bytes each, sent back to back; one reply at the end."""
    state = transport.setup()
    message = b"x" * size

    def sink() -> None:
        send, recv = transport.child(state)
        if transport.drain is not None:  # the ring: recv_many, all that is there a call
            drain, got = transport.drain(state), 0
            while got < n:
                got += len(drain())
        else:
            for _ in range(n):
                recv()
        send(b"done")

    pid = _fork(sink)
    send, recv = transport.parent(state)
    many = transport.batch(state) if transport.batch is not None else None
    started = time.perf_counter()
    if many is not None:  # corral: send_many, BATCH messages a call
        batch = [message] * BATCH
        for _ in range(n // BATCH):
            many(batch)
        for _ in range(n % BATCH):
            send(message)
    else:
        for _ in range(n):
            send(message)
    recv()
    elapsed = time.perf_counter() - started
    _reap(pid)
    return n / elapsed


def ring_bandwidth(n: int, size: int = 1 << 20) -> float:
    """GB/s through a ring with `size`-byte messages: copied in by the sender, out by the
    receiver (`recv_into` a reused buffer), each on its own CPU."""
    sender, receiver = ipc.ring(4 * size, codec=ipc.Raw())
    message = os.urandom(size)

    def sink() -> None:
        buffer = bytearray(size)
        for _ in range(n):
            receiver.recv_into(buffer)

    pid = _fork(sink)
    started = time.perf_counter()
    for _ in range(n):
        sender.send_bytes(message)
    sender._await(lambda head: head == sender._mine, 60.0, "send")  # drained: all consumed
    elapsed = time.perf_counter() - started
    _reap(pid)
    return n * size / elapsed / 1e9


def memcpy_bandwidth(n: int, size: int = 1 << 20) -> float:
    """GB/s of ctypes.memmove between two `size` buffers (one copy)."""
    source = ctypes.create_string_buffer(os.urandom(size), size)
    target = ctypes.create_string_buffer(size)
    started = time.perf_counter()
    for _ in range(n):
        ctypes.memmove(target, source, size)
    return n * size / (time.perf_counter() - started) / 1e9


class Job(msgspec.Struct):
    """A small typed message, as a task queue would send."""

    id: int
    name: str
    args: list[int]
    ok: bool


def codec_round_trip(n: int) -> tuple[float, float]:
    """µs per encode+decode of a Job: corral's Msgpack(Job) codec, then msgspec's own."""
    job = Job(7, "resize", [1, 2, 3], True)
    codec = ipc.Msgpack(Job)
    encoder, decoder = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(Job)
    figures = []
    for encode, decode in ((codec.encode, codec.decode), (encoder.encode, decoder.decode)):
        started = time.perf_counter()
        for _ in range(n):
            decode(encode(job))
        figures.append((time.perf_counter() - started) / n * 1e6)
    return figures[0], figures[1]


# -- the C floor --------------------------------------------------------------------

C_FLOOR = r"""
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static void readn(int fd, char *b, int n) {
    while (n > 0) { int r = read(fd, b, n); if (r <= 0) exit(1); n -= r; b += r; }
}
static void pin(int cpu) {
    cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s); sched_setaffinity(0, sizeof s, &s);
}
int main(int argc, char **argv) {
    int rtt = strcmp(argv[1], "rtt") == 0, n = atoi(argv[2]), size = atoi(argv[3]);
    int a[2], b[2]; char buf[65536]; memset(buf, 'x', sizeof buf);
    if (pipe(a) || pipe(b)) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        pin(atoi(argv[5]));
        for (int i = 0; i < n; i++) {
            readn(a[0], buf, size);
            if (rtt && write(b[1], buf, size) != size) return 1;
        }
        if (!rtt && write(b[1], buf, 1) != 1) return 1;
        return 0;
    }
    pin(atoi(argv[4]));
    struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        if (write(a[1], buf, size) != size) return 1;
        if (rtt) readn(b[0], buf, size);
    }
    if (!rtt) readn(b[0], buf, 1);
    clock_gettime(CLOCK_MONOTONIC, &t1); waitpid(pid, 0, 0);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%.6f\n", rtt ? s / n * 1e6 : n / s);
    return 0;
}
"""


def c_floor(directory: Path) -> Callable[[str, int, int], float] | None:
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    source, binary = directory / "floor.c", directory / "floor"
    source.write_text(C_FLOOR)
    subprocess.run([gcc, "-O2", "-o", str(binary), str(source)], check=True)

    def run(mode: str, n: int, size: int) -> float:
        argv = [str(binary), mode, str(n), str(size), str(PARENT_CPU), str(CHILD_CPU)]
        return float(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)

    return run


# -- the report ---------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--n", type=int, default=20_000, help="round trips per transport")
    parser.add_argument("--quick", action="store_true", help="a tenth of the iterations")
    options = parser.parse_args()
    n = options.n // 10 if options.quick else options.n
    os.sched_setaffinity(0, {PARENT_CPU})
    shared = " (one CPU: both share it)" if PARENT_CPU == CHILD_CPU else ""
    print(
        f"corral.ipc bench: CPU pinning: this process on CPU {PARENT_CPU}, each peer on "
        f"CPU {CHILD_CPU}{shared} (os.sched_setaffinity); best of {ROUNDS} rounds of "
        f"{n // ROUNDS} round trips each; load "
        f"average {os.getloadavg()[0]:.2f}; CPython {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-ipc-") as scratch:
        floor = c_floor(Path(scratch))
        if floor is None:
            print("C pipe floor: skipped (no gcc on PATH)")
        transports = [
            corral_pipe(),
            corral_socketpair("stream"),
            corral_socketpair("seqpacket"),
            corral_tcp(),
            corral_ring(),
            mp_pipe(),
            mp_queue(),
            *(t for t in (pyzmq(), nng()) if t is not None),
        ]
        floors = {t.name: t for t in (raw_pipe(), raw_socketpair(), raw_tcp())}

        print("\n100-byte round trip (µs, lower is better)")
        rtt: dict[str, float] = {}
        for _round in range(ROUNDS):  # interleaved, so a burst of load hits all alike
            for transport in [*floors.values(), *transports]:
                figure = measured(round_trip, transport, n // ROUNDS)
                rtt[transport.name] = min(rtt.get(transport.name, figure), figure)
        c_rtt = min(floor("rtt", n // ROUNDS, 100) for _ in range(ROUNDS)) if floor else None
        for transport in transports:
            line = f"  {transport.name:34} {rtt[transport.name]:8.2f}"
            if transport.floor:
                ratio = rtt[transport.floor] / rtt[transport.name]
                line += (
                    f"   {ratio:.2f}x its floor ({transport.floor}); target >= 0.8x: "
                    f"{verdict(ratio >= 0.8)}"
                )
            print(line)
        for name, figure in rtt.items():
            if name in floors:
                print(f"  {name + ' (floor)':34} {figure:8.2f}")
        if c_rtt is not None:
            print(f"  {'C pipe ping-pong (floor)':34} {c_rtt:8.2f}")
        best = min((rtt[t.name], t.name) for t in transports if t.name.startswith("corral"))
        for peer in ("multiprocessing.Pipe", *(t.name for t in transports if "ipc" in t.name[-4:])):
            wanted = 1.0 if peer == "multiprocessing.Pipe" else 2.0
            ratio = rtt[peer] / best[0]
            print(
                f"  fastest corral ({best[1]}) vs {peer}: {ratio:.2f}x faster; "
                f"target > {wanted:g}x: {verdict(ratio > wanted)}"
            )
        pipe_ratio = rtt["multiprocessing.Pipe"] / rtt["corral unix stream"]
        print(f"  corral unix stream vs multiprocessing.Pipe (both socketpairs): {pipe_ratio:.2f}x")

        batched(transports, n * 10, floor)
        tail_figures(n)


def batched(
    transports: list[Transport], batch: int, floor: Callable[[str, int, int], float] | None
) -> None:
    """The one-way figures, against the C floor and between the ring and a socketpair."""
    print(
        f"\nOne-way 64 B messages, batched (messages/s, higher is better; corral: "
        f"send_many of {BATCH} a call, the ring's receiver recv_many; the others one "
        "call a message)"
    )
    flows: dict[str, float] = {}
    for _round in range(ROUNDS):
        for transport in transports:
            figure = measured(one_way, transport, batch // ROUNDS)
            flows[transport.name] = max(flows.get(transport.name, figure), figure)
    for transport in transports:
        print(f"  {transport.name:34} {flows[transport.name]:12,.0f}")
    c_flow = max(floor("oneway", batch // ROUNDS, 64) for _ in range(ROUNDS)) if floor else None
    if c_flow is not None:
        print(f"  {'C pipe, one write/read per message':34} {c_flow:12,.0f}")
        for name in ("corral pipe", "corral unix stream", "corral shm ring"):
            ratio = flows[name] / c_flow
            print(
                f"  {name} vs the C pipe floor: {ratio:.2f}x; target >= 0.5x: "
                f"{verdict(ratio >= 0.5)}"
            )
    ring_ratio = flows["corral shm ring"] / flows["corral unix stream"]
    print(
        f"  shm ring vs corral unix stream (socketpair): {ring_ratio:.2f}x; target >= 2x: "
        f"{verdict(ring_ratio >= 2)}"
    )


def tail_figures(n: int) -> None:
    """The ring's bandwidth against memcpy, and the codec against msgspec's own."""
    print("\nshm ring bandwidth, 1 MiB messages (GB/s)")
    ring_bw = max(ring_bandwidth(max(200, n // 50)) for _ in range(ROUNDS))
    copy_bw = max(memcpy_bandwidth(max(200, n // 50)) for _ in range(ROUNDS))
    print(f"  shm ring (copied in, then out)     {ring_bw:8.2f}")
    print(f"  ctypes.memmove, one copy (floor)   {copy_bw:8.2f}")
    print(f"  ratio {ring_bw / copy_bw:.2f}x; target >= 0.5x: {verdict(ring_bw / copy_bw >= 0.5)}")

    print("\nCodec round trip (encode + decode) of a small msgspec.Struct (µs)")
    ours, theirs = codec_round_trip(n * 10)
    print(f"  corral Msgpack(Job)                {ours:8.3f}")
    print(f"  msgspec Encoder/Decoder(Job)       {theirs:8.3f}")
    print(f"  ratio {ours / theirs:.2f}x; target <= 2x: {verdict(ours / theirs <= 2)}")


if __name__ == "__main__":
    main()
