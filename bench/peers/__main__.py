"""Command line of bench.peers: install, run every workload round by round, report."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bench.machine import machine
from bench.peers import control, install, logs, restart, scale
from bench.peers.circus import Circus
from bench.peers.corral import Corral
from bench.peers.peer import LEAKS, Adapter, RunOptions
from bench.peers.pm2 import Pm2
from bench.peers.report import (
    Metric,
    Results,
    Target,
    markdown_summary,
    text_report,
    verdicts,
)
from bench.peers.supervisord import Supervisord

WORKLOADS = ("logs", "restart", "scale", "control")
PEERS = ("corral", "supervisord", "circus", "pm2")
SEED = 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.peers", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 round, 5 s idle, fewer status calls (default: 3 rounds)",
    )
    parser.add_argument(
        "--only", default=",".join(WORKLOADS), help=f"comma-separated workloads: {WORKLOADS}"
    )
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated: {PEERS}")
    parser.add_argument("--rounds", type=int, help="rounds (runs of every variant)")
    parser.add_argument("--sizes", help="instance counts for scale (default 200,1000)")
    parser.add_argument("--lines", type=int, help="lines for the log workload")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    args.only = _choices(parser, "--only", args.only, WORKLOADS)
    args.peers = _choices(parser, "--peers", args.peers, PEERS)
    return args


def _choices(
    parser: argparse.ArgumentParser, flag: str, text: str, allowed: Sequence[str]
) -> list[str]:
    picked = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in picked if x not in allowed]
    if unknown or not picked:
        parser.error(f"{flag}: expected some of {', '.join(allowed)}; got {text!r}")
    return picked


def adapters_for(peers: Sequence[str]) -> dict[str, Adapter]:
    made: dict[str, Adapter] = {
        "supervisord": Supervisord(),
        "circus": Circus(),
        "pm2": Pm2(),
    }
    chosen: dict[str, Adapter] = {}
    if "corral" in peers:
        chosen["corral"] = Corral(timestamps=False)
        chosen["corral-ts"] = Corral(timestamps=True)
    chosen.update({name: made[name] for name in peers if name in made})
    return chosen


def options(args: argparse.Namespace, results: Results, out: Path) -> RunOptions:
    quick = args.quick
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else (200, 1000)
    return RunOptions(
        quick=quick,
        rounds=args.rounds or (1 if quick else 3),
        lines=args.lines or 1_000_000,
        idle=5.0 if quick else 20.0,
        sizes=sizes,
        status_runs=3 if quick else 5,
        api_calls=20 if quick else 100,
        writer=install.build_writer(),
        runs=install.RUNS / out.name,
        configs=out / "configs",
        results=results,
        rng=random.Random(SEED),
    )


def plan(opts: RunOptions, only: Sequence[str]) -> tuple[list[Metric], list[Target]]:
    metrics: list[Metric] = []
    targets: list[Target] = []
    if "logs" in only:
        metrics += logs.metrics(opts.lines)
        targets += logs.targets()
    if "restart" in only:
        metrics += restart.METRICS
        targets += restart.TARGETS
    if "scale" in only:
        metrics += scale.metrics(opts.sizes)
        targets += scale.targets(opts.sizes)
    if "control" in only:
        metrics += control.metrics(max(opts.sizes))
    return metrics, targets


def run_rounds(adapters: dict[str, Adapter], opts: RunOptions, only: Sequence[str]) -> None:
    plain = [a for name, a in adapters.items() if name != "corral-ts"]
    for i in range(opts.rounds):
        print(f"round {i + 1}/{opts.rounds}", file=sys.stderr, flush=True)
        if "logs" in only:
            logs.run_round(list(adapters.values()), opts)
        if "restart" in only:
            restart.run_round(plain, opts)
        if "scale" in only or "control" in only:
            scale.run_round(plain, opts, scale="scale" in only, api="control" in only)


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=install.ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def _process_count() -> int:
    """Every process on the machine: corral's stop scans /proc, so this matters."""
    return sum(name.isdigit() for name in os.listdir("/proc"))


def _src_state() -> tuple[str, str]:
    return _git("rev-parse", "HEAD"), _git("diff", "HEAD", "--", "src")


def _versions(installed: install.Installed) -> dict[str, str]:
    node_path = shutil.which("node")
    node = "not found"
    if node_path is not None:
        run = subprocess.run([node_path, "--version"], capture_output=True, text=True, check=False)
        node = run.stdout.strip() or "not found"
    dirty = " (src/ has uncommitted changes)" if _git("status", "--porcelain", "src") else ""
    found = {"corral commit": _git("rev-parse", "--short", "HEAD") + dirty}
    found["node"] = node
    found.update({f"peer {k}": v for k, v in installed.ready.items()})
    found.update({f"peer {k}": f"NOT INSTALLED: {v}" for k, v in installed.failed.items()})
    return found


def _stop_on_term(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_term)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(install.ROOT / "src")], check=True
    )
    installed = install.install_peers([p for p in args.peers if p != "corral"])
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    stamp = f"{stamp}-{os.getpid()}"  # two runs at once share nothing below
    out = install.RESULTS / stamp
    out.mkdir(parents=True)
    results = Results()
    opts = options(args, results, out)
    runnable = [p for p in args.peers if p == "corral" or p in installed.ready]
    adapters = adapters_for(runnable)
    metrics, targets = plan(opts, args.only)
    head = [f"command: {' '.join(sys.orig_argv)}"]
    head += [f"{k}: {v}" for k, v in {**machine(), **_versions(installed)}.items()]
    head.append(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    head.append(f"processes on the machine at start: {_process_count()}")
    head.append(f"rounds: {opts.rounds}; results and configs: {out}")
    print("\n".join(head), file=sys.stderr, flush=True)
    src_state = _src_state()
    try:
        run_rounds(adapters, opts, args.only)
        shutil.rmtree(opts.runs, ignore_errors=True)  # the logs of the last sessions
    finally:
        head.append(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        head.append(f"processes on the machine at end: {_process_count()}")
        if _src_state() != src_state:
            results.note("src/ changed during the run: the figures mix two versions of corral")
        for leak in LEAKS:
            results.note(f"cleanup: {leak} (SIGKILLed by pid)")
        text = text_report(results, metrics, targets, head)
        (out / "results.txt").write_text(text)
        (out / "summary.md").write_text(markdown_summary(results, metrics, targets))
        (out / "results.json").write_text(as_json(results, targets, head))
    print(as_json(results, targets, head) if args.json else text)
    return 0


def as_json(results: Results, targets: Sequence[Target], head: Sequence[str]) -> str:
    return json.dumps(
        {
            "head": list(head),
            "samples": results.samples,
            "notes": results.notes,
            "targets": [
                {
                    "metric": v.target.metric,
                    "variant": v.target.variant,
                    "target": v.target.text,
                    "value": v.value,
                    "bound": v.bound,
                    "state": v.state,
                }
                for v in verdicts(results, targets)
            ],
        },
        indent=2,
    )


if __name__ == "__main__":
    sys.exit(main())
