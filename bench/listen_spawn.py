"""What handing sockets over costs a spawn: posix_spawn against the fork path LISTEN_PID needs.

Run from the repository root:

    .venv/bin/python -m bench.listen_spawn [--iterations N] [--held-mib M] [--json]

A spawn with `[sockets.NAME]` to hand over takes the fork path, because only the child
knows its pid before exec (docs/decisions/0012-listen-pid.md). Each sample is one
`begin_launch` of `true` (full path, stdio on /dev/null) until its exit is collected:
with no sockets (posix_spawn), with one listening socket (fork + LISTEN_PID), and the
alternative not taken, posix_spawn of a `/bin/sh -c 'LISTEN_PID=$$ exec "$0" "$@"'`
shim. `begin_launch p50` is the time inside the call, which a daemon's loop waits
(the fork path's exec is then awaited on the loop). Variants alternate in a shuffled
order each round. A fork copies the parent's page
tables, so its cost grows with the parent's memory: `--held-mib` makes the parent hold
that much touched memory first, as a daemon with many instances does (the daemon under
test holds about 40 MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import time

from bench.machine import machine
from corral._process.spawn import ListenFds, begin_launch
from corral._process.spec import ProcessSpec


def _one(spec: ProcessSpec, listen: ListenFds | None) -> tuple[float, float]:
    """(spawn to exit collected, time inside begin_launch: what a daemon's loop waits)."""
    began = time.perf_counter()
    pending = begin_launch(spec, listen=listen)
    returned = time.perf_counter()
    launched = pending.wait()
    os.waitpid(launched.pid, 0)
    elapsed = time.perf_counter() - began
    launched.notifier.close()
    return elapsed, returned - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--held-mib", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    held = bytearray(args.held_mib << 20)
    for offset in range(0, len(held), 4096):
        held[offset] = 1
    true = shutil.which("true")
    assert true is not None
    spec = ProcessSpec(argv=(true,), stdin="devnull", stdout="devnull", stderr="devnull")
    shim = ProcessSpec(
        argv=("/bin/sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"', true),
        stdin="devnull",
        stdout="devnull",
        stderr="devnull",
    )
    listener = socket.create_server(("127.0.0.1", 0))
    handover = ListenFds((listener.fileno(),), ("web",))
    variants = {
        "posix_spawn": (spec, None),
        "fork_listen": (spec, handover),
        "sh_shim": (shim, None),
    }
    spans: dict[str, list[float]] = {key: [] for key in variants}
    inside: dict[str, list[float]] = {key: [] for key in variants}
    rng = random.Random(1)
    for _ in range(args.iterations):
        order = list(variants)
        rng.shuffle(order)
        for key in order:
            span, held_loop = _one(*variants[key])
            spans[key].append(span)
            inside[key].append(held_loop)
    listener.close()
    result = {
        key: {
            "p50_us": _us(statistics.median(spans[key])),
            "p90_us": _us(statistics.quantiles(spans[key], n=10)[-1]),
            "call_p50_us": _us(statistics.median(inside[key])),
        }
        for key in variants
    }
    report = {
        "held_mib": args.held_mib,
        "iterations": args.iterations,
        "machine": machine(),
        **result,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"parent holding {args.held_mib} MiB, {args.iterations} rounds")
    for key, figures in result.items():
        print(
            f"  {key:12} p50 {figures['p50_us']:>6} us   p90 {figures['p90_us']:>6} us   "
            f"begin_launch p50 {figures['call_p50_us']:>6} us"
        )


def _us(seconds: float) -> int:
    return round(seconds * 1e6)


if __name__ == "__main__":
    main()
