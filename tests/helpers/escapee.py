"""Leave behind processes that only a cgroup can find, then print their pids and `ready`.

Usage: escapee.py [COUNT]
Each of COUNT children (default 4) runs in a new session with an empty
environment (no marker, no shared group), ignores SIGTERM and spins on the CPU,
so freezing or killing them waits until the scheduler has run each one. Once
the root ends (SIGTERM ends it), nothing links them to the tree: their cgroup
is the only way to find and kill them. Everything ends after at most 300 s.
"""

from __future__ import annotations

import subprocess
import sys
import time

_MAX_LIFETIME = 300.0
_CHILD = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    pass
"""


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD], env={}, start_new_session=True, stdout=subprocess.PIPE
        )
        for _ in range(count)
    ]
    for child in children:
        assert child.stdout is not None
        child.stdout.readline()  # the child's own `ready`
    print(*(child.pid for child in children), flush=True)
    print("ready", flush=True)
    time.sleep(_MAX_LIFETIME)


if __name__ == "__main__":
    main()
