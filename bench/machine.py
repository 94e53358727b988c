"""What a benchmark ran on: the machine description every report prints.

Kept apart from the benchmarks (and from corral) so that a tool that only drives
them, such as `bench.compare`, can describe the machine without importing corral.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "libc": " ".join(platform.libc_ver()),
        "python": sys.version.split()[0] + " " + platform.python_implementation(),
        "transparent_hugepage": _read_first_line("/sys/kernel/mm/transparent_hugepage/enabled"),
        "environment_variables": str(len(os.environ)),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _cpu_model() -> str:
    for line in _read_lines("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _read_first_line(path: str) -> str:
    lines = _read_lines(path)
    return lines[0].strip() if lines else "unknown"


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readlines()
    except OSError:
        return []
