"""What a config-validation library would cost the daemon: RSS and CPU of importing it.

Each case runs in a fresh interpreter: it reads `time.process_time()`, imports the
candidate and validates one two-field model, then prints the CPU milliseconds and
its own VmRSS. Figures are medians of --runs runs after one warm-up (which writes
the .pyc files). CPU time, not wall time, because the machine is often shared.
The candidates are not project dependencies: give an interpreter that has them
(decision 0009 used a scratch venv), and a case whose package is missing says so.

    python -m venv /tmp/v && /tmp/v/bin/pip install msgspec cattrs pydantic
    .venv/bin/python -m bench.config_validation --python /tmp/v/bin/python
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

SPECS = "import corral._supervisor.model.program, corral._sandbox.spec, corral._process.spec"
PYDANTIC = """
from pydantic import BaseModel
class P(BaseModel):
    name: str
    numprocs: int = 1
P.model_validate({"name": "web"})
"""
MSGSPEC = """
import msgspec
class P(msgspec.Struct):
    name: str
    numprocs: int = 1
msgspec.convert({"name": "web"}, P)
"""
CATTRS = """
import dataclasses, cattrs
@dataclasses.dataclass(frozen=True)
class P:
    name: str
    numprocs: int = 1
cattrs.structure({"name": "web"}, P)
"""
CASES = {
    "python -c pass": "pass",
    "msgspec, one Struct converted from a dict": MSGSPEC,
    "cattrs, one dataclass structured": CATTRS,
    "pydantic, one BaseModel validated": PYDANTIC,
    "the specs a config builds (Program, Sandbox, ProcessSpec)": SPECS,
    "  specs + corral's config layer (config/load.py)": SPECS
    + "\nimport corral._supervisor.config.load",
    "  specs + msgspec, one Struct": SPECS + "\n" + MSGSPEC,
    "  specs + cattrs, one dataclass": SPECS + "\n" + CATTRS,
    "  specs + pydantic, one BaseModel": SPECS + "\n" + PYDANTIC,
}
WRAP = """
import time
_start = time.process_time()
{code}
_cpu = time.process_time() - _start
print(_cpu, open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
"""


def measure(python: str, code: str) -> tuple[float, float] | None:
    """(CPU ms, RSS MiB) of one fresh run, or None when the case cannot import."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [python, "-c", WRAP.format(code=code)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        return None
    cpu, rss = out.stdout.split()
    return float(cpu) * 1000, int(rss) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter to measure")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    print(f"{'case':58} {'CPU':>9} {'RSS':>10}")
    for label, code in CASES.items():
        if measure(args.python, code) is None:
            print(f"{label:58} not installed in {args.python}")
            continue
        runs = [r for r in (measure(args.python, code) for _ in range(args.runs)) if r]
        cpu = statistics.median(r[0] for r in runs)
        rss = statistics.median(r[1] for r in runs)
        print(f"{label:58} {cpu:6.1f} ms {rss:6.1f} MiB")


if __name__ == "__main__":
    main()
