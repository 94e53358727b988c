"""The program a FakeProgram runs: stdlib only, its whole behaviour from one JSON argument.

Not imported by corral: `fake.py` passes this file's text to `python -I -c`, so
it runs in any interpreter without corral on its path. The keys are FakeProgram's
fields (see there).
"""

import json
import os
import signal
import sys
import time
from typing import Any


def _sleep_forever() -> None:
    while True:
        time.sleep(3600)


def _child() -> int:
    pid = os.fork()
    if pid == 0:
        _sleep_forever()
    return pid


def _grandchild() -> int:
    """A process outside our group and session whose parent is gone (double fork, setsid)."""
    read, write = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.setsid()
        pid = os.fork()
        if pid:
            os.write(write, str(pid).encode())
            os._exit(0)
        os.close(read)
        os.close(write)
        _sleep_forever()
    os.close(write)
    found = b""
    while chunk := os.read(read, 32):
        found += chunk
    os.close(read)
    os.waitpid(middle, 0)
    return int(found)


def _report(path: str, pids: dict[str, object]) -> None:
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(pids, out)
    os.replace(temporary, path)


def main(plan: dict[str, Any]) -> int:
    exit_delay = float(plan["exit_delay"])

    def slow_exit(signo: int, _frame: object) -> None:
        time.sleep(exit_delay)
        os._exit(128 + signo)

    for name in plan["ignore"]:
        signal.signal(getattr(signal, f"SIG{name}"), signal.SIG_IGN)
    if exit_delay and "TERM" not in plan["ignore"]:
        signal.signal(signal.SIGTERM, slow_exit)
    children = [_child() for _ in range(int(plan["children"]))]
    grandchild = _grandchild() if plan["grandchild"] else None
    sys.stdout.write(plan["stdout"])
    sys.stdout.flush()
    sys.stderr.write(plan["stderr"])
    sys.stderr.flush()
    if plan["report"]:
        pids = {"pid": os.getpid(), "children": children, "grandchild": grandchild}
        _report(plan["report"], pids)
    if plan["read_stdin"]:
        sys.stdout.write(sys.stdin.read())
        sys.stdout.flush()
    if plan["delay"] is None:
        _sleep_forever()
    time.sleep(float(plan["delay"]))
    return int(plan["exit_code"])


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
