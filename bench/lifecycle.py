"""Micro-benchmark: the cost of the pure lifecycle machine, per input and per instance.

Times a start, spawn, stop, exit cycle (four `InstanceMachine.apply` calls on a fresh
machine) and reports p50 and p99 per cycle, then measures with tracemalloc the bytes
a RUNNING machine holds (over --instances machines). Figures only; it asserts nothing.

    .venv/bin/python -m bench.lifecycle [--samples 20000] [--instances 1000]

It also runs against the layout before `corral._lifecycle` existed, to compare:
    git worktree add /tmp/old 7005b1a && PYTHONPATH=/tmp/old/src python -m bench.lifecycle
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
import tracemalloc
from types import ModuleType


def _modules() -> tuple[str, ModuleType, ModuleType, ModuleType]:
    """(layout, the machine's module, the messages' module, the policy's module)."""
    try:
        return (
            "corral._lifecycle",
            importlib.import_module("corral._lifecycle.machine"),
            importlib.import_module("corral._lifecycle.messages"),
            importlib.import_module("corral._lifecycle.policy"),
        )
    except ImportError:
        instance = importlib.import_module("corral._supervisor.model.instance")
        program = importlib.import_module("corral._supervisor.model.program")
        return "corral._supervisor.model (before)", instance, instance, program


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--instances", type=int, default=1_000)
    args = parser.parse_args()
    layout, machine, msg, policy_module = _modules()
    policy = policy_module.RestartPolicy(start_seconds=0)
    inputs = (msg.StartRequested(), msg.Spawned(5), msg.StopRequested(), msg.ProcessExited(0, None))

    def cycle() -> None:
        m = machine.InstanceMachine("web:0", policy, 10)
        for now, event in enumerate(inputs):
            m.apply(event, float(now))

    for _ in range(1_000):  # warm up
        cycle()
    times: list[float] = []
    for _ in range(args.samples):
        start = time.perf_counter()
        cycle()
        times.append(time.perf_counter() - start)
    times.sort()
    p50 = statistics.median(times) * 1e6
    p99 = times[int(len(times) * 0.99)] * 1e6

    tracemalloc.start()
    kept = [machine.InstanceMachine(f"web:{i}", policy, 10) for i in range(args.instances)]
    for m in kept:
        m.apply(inputs[0], 0.0)
        m.apply(inputs[1], 0.0)
    held = tracemalloc.get_traced_memory()[0] / len(kept)
    tracemalloc.stop()

    print(f"layout: {layout}")
    print(f"{'4-input cycle p50':<28}{p50:>10.1f} µs")
    print(f"{'4-input cycle p99':<28}{p99:>10.1f} µs")
    print(f"{'bytes per RUNNING machine':<28}{held:>10.0f}")


if __name__ == "__main__":
    main()
