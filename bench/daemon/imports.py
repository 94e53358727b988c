"""Import time of `corral status`: `python -X importtime -m corral status --socket X`.

Run against a daemon with one instance, bytecode compiled, several times; reports
the median total (the sum of every module's own time) and the modules with the
largest median own time, and lists the corral modules the command imported (the
style guide allows only _control.cli, _control.client, _control.wire and _errors).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict

from bench.daemon.harness import Daemon, write_config
from bench.daemon.report import Figure, sampled
from bench.daemon.scale import cli_env

ALLOWED = (
    "corral._control.cli",
    "corral._control.client",
    "corral._control.wire",
    "corral._errors",
)
"""The corral modules `corral status` may import (and their submodules)."""


def parse_importtime(stderr: str) -> dict[str, tuple[int, int]]:
    """module -> (own µs, cumulative µs) from `-X importtime` output."""
    found: dict[str, tuple[int, int]] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line[len("import time:") :].split("|", 2)
        found[name.strip()] = (int(own), int(cumulative))
    return found


def run_imports(directory: str, runs: int, top: int = 5) -> tuple[list[Figure], str]:
    """Figures (total import time, and `corral status` under importtime) and a note."""
    sleep = shutil.which("sleep") or "/bin/sleep"
    workdir = os.path.join(directory, "imports")
    os.makedirs(workdir)
    config = write_config(workdir, f'[programs.one]\ncommand = ["{sleep}", "3600"]\n')
    totals: list[float] = []
    own: dict[str, list[int]] = defaultdict(list)
    corral_modules: set[str] = set()
    env = cli_env()
    with Daemon(config) as daemon:
        argv = [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "corral",
            "status",
            "--socket",
            daemon.socket,
        ]
        for _ in range(1 + runs):
            done = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
            modules = parse_importtime(done.stderr)
            totals.append(sum(o for o, _ in modules.values()) / 1000)
            for name, (o, _) in modules.items():
                own[name].append(o)
            corral_modules |= {m for m in modules if m == "corral" or m.startswith("corral.")}
    totals = totals[1:]  # the first run warms the page cache
    medians = {name: statistics.median(values) for name, values in own.items()}
    ranked = sorted(medians.items(), key=lambda kv: kv[1], reverse=True)[:top]
    lines = [f"`corral status` imports, median of {runs} runs, top {top} by own time:"]
    lines += [f"  {us / 1000:6.2f} ms  {name}" for name, us in ranked]
    extra = sorted(m for m in corral_modules if not _allowed(m))
    lines.append(
        f"  corral modules imported: {len(corral_modules)}; outside the allowed set: "
        f"{', '.join(extra) if extra else 'none'}"
    )
    figure = sampled("imports", "`corral status` total import time (sum of own)", "ms", totals)
    return [figure], "\n".join(lines)


def _allowed(module: str) -> bool:
    if module in ("corral", "corral.__main__", "corral._control"):
        return True
    return any(module == a or module.startswith(a + ".") for a in ALLOWED)
