"""What the keeper costs: its resident memory, a `put` per spawn, and the handover.

Run from the repository root:

    .venv/bin/python -m bench.keeper [--instances 200 1000] [--json]

For each count N a real keeper (`python -m corral._keeper`) is started with a stand-in
daemon (`sleep`, which ignores the keeper); the bench connects to the keeper's socket
as a daemon would, spawns N `sleep` programs and hands each one's pidfd and two pipe
read ends over with `put` (the time of each call is a sample: what a spawn pays). Then
it reads the keeper's VmRSS and times a `hello` that takes all N entries back with
their fds (what a new daemon pays before it adopts anything). The machine is shared:
compare the figures of one run, not runs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time

from corral._keeper.link import KeeperLink


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0])


def _wait_for(path: str, deadline: float) -> None:
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"the keeper did not listen on {path}")
        time.sleep(0.01)


def measure(instances: int) -> dict[str, float]:
    """One keeper holding `instances` entries: its figures."""
    directory = tempfile.mkdtemp(prefix="keeper-bench")
    path = os.path.join(directory, "state.json.keeper")
    argv = [sys.executable, "-m", "corral._keeper", "--socket", path, "--", "sleep", "600"]
    keeper = os.posix_spawn(sys.executable, argv, os.environ)
    children: list[int] = []
    try:
        _wait_for(path, time.monotonic() + 30)
        idle = _rss_kib(keeper)
        link = KeeperLink.connect(path)
        puts: list[float] = []
        for index in range(instances):
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            actions = [(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
            pid = os.posix_spawn("/bin/sleep", ["sleep", "600"], {}, file_actions=actions)
            children.append(pid)
            os.close(out_w)
            os.close(err_w)
            pidfd = os.pidfd_open(pid)
            fds = {"pidfd": pidfd, "stdout": out_r, "stderr": err_r}
            begun = time.perf_counter()
            link.put(f"bench:{index}", pid, fds, {"seq": index})
            puts.append(time.perf_counter() - begun)
            for fd in fds.values():
                os.close(fd)
        held = _rss_kib(keeper)
        begun = time.perf_counter()
        other = KeeperLink.connect(path)
        snapshot = other.hello()
        handover = time.perf_counter() - begun
        assert len(snapshot.entries) == instances
        for entry in snapshot.entries:
            entry.close()
        other.close()
        link.close()
        return {
            "instances": instances,
            "keeper_rss_idle_kib": idle,
            "keeper_rss_held_kib": held,
            "put_p50_us": statistics.median(puts) * 1e6,
            "put_p99_us": sorted(puts)[int(len(puts) * 0.99)] * 1e6,
            "hello_ms": handover * 1e3,
        }
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.kill(keeper, signal.SIGTERM)  # forwarded to the stand-in, which ends: so does it
        os.waitpid(keeper, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [measure(n) for n in args.instances]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        idle, held = row["keeper_rss_idle_kib"] / 1024, row["keeper_rss_held_kib"] / 1024
        print(
            f"{row['instances']:>5} instances: keeper RSS {idle:.1f} MiB"
            f" idle, {held:.1f} MiB holding them;"
            f" put p50 {row['put_p50_us']:.0f} us (p99 {row['put_p99_us']:.0f});"
            f" hello (all entries and fds back) {row['hello_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main()
