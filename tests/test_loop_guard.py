"""The loop guard itself: what it reports on a running loop, and what it lets through.

Each case is a tiny asyncio program run in a child process with the guard
installed (so the patching never touches the test process); the child exits
with the number of reports and prints them on stderr.
"""

from __future__ import annotations

import ast
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import corral
from tests.support.loop_guard import ALLOWED, KNOWN, LoopGuard
from tests.support.waiting import DEADLINE

ROOT = Path(__file__).resolve().parent.parent

_PROGRAM = """
import asyncio, os, select, selectors, socket, subprocess, sys, threading, time
sys.path.insert(0, {root!r})
from tests.support import loop_guard
from tests.support.loop_guard import LoopGuard

loop_guard.KNOWN = loop_guard.KNOWN + {entries!r}
guard = LoopGuard(report_known={known!r})
guard.install()
{before}
async def main() -> None:
{body}
asyncio.run(main())
guard.uninstall()
sys.exit(len(guard.reports))
"""


def _run(
    body: str,
    *,
    before: str = "",
    known: tuple[str, ...] = (),
    entries: tuple[tuple[str, str, str], ...] = (),
) -> tuple[int, str]:
    """Run `body` as the coroutine on a guarded loop: (number of reports, stderr).

    `before` runs first, at module level, with the guard installed and no loop running.
    `entries` are added to KNOWN for the run (today's daemon needs none).
    """
    indented = textwrap.indent(body, "    ")
    program = _PROGRAM.format(
        root=str(ROOT), known=known, entries=entries, before=before, body=indented
    )
    result = corral.run([sys.executable, "-c", program], check=False, timeout=DEADLINE)
    assert result.exit_code is not None, result
    return result.exit_code, result.stderr_text


def test_a_sleep_on_the_loop_is_reported_with_its_call_and_stack() -> None:
    count, stderr = _run("time.sleep(0.01)")
    assert count == 1
    assert "corral-test: blocking call on the event loop: time.sleep(0.01)\n" in stderr
    assert 'File "<string>", line 12, in main\n' in stderr


def test_awaiting_asyncio_sleep_is_not_reported() -> None:
    assert _run("await asyncio.sleep(0.01)") == (0, "")


def test_a_sleep_on_a_worker_thread_is_not_reported() -> None:
    assert _run("await asyncio.to_thread(time.sleep, 0.01)") == (0, "")


def test_a_sleep_outside_a_running_loop_is_not_reported() -> None:
    assert _run("pass", before="time.sleep(0.01)") == (0, "")


@pytest.mark.parametrize(
    ("body", "reported"),
    [
        ("select.select([], [], [], 0.01)", "select.select(timeout=0.01)"),
        ("select.poll().poll(10)", "select.poll().poll(timeout=10)"),
        ("select.epoll().poll(0.01)", "select.epoll().poll(timeout=0.01)"),
        (
            "selectors.DefaultSelector().select(0.01)",
            "selectors.EpollSelector.select(timeout=0.01)",
        ),
        ("threading.Event().wait(0.01)", "threading.Condition.wait(timeout=0.01)"),
        ("subprocess.run(['true'])", "subprocess.run()"),
        (
            "pid = os.posix_spawn('/bin/true', ['true'], {})\nos.waitpid(pid, 0)",
            "without WNOHANG",
        ),
        (
            "r, w = os.pipe()\nos.set_blocking(w, False)\nos.write(w, b'x')\nos.read(r, 1)",
            "on a pipe in blocking mode",
        ),
        (
            "a, b = socket.socketpair()\nb.setblocking(False)\nb.send(b'x')\na.recv(1)",
            "socket.socket.recv on a socket with timeout=None",
        ),
    ],
)
def test_each_kind_of_blocking_wait_is_reported(body: str, reported: str) -> None:
    count, stderr = _run(body)
    assert count == 1, stderr
    assert reported in stderr


@pytest.mark.parametrize(
    "body",
    [
        "select.select([], [], [], 0)",
        "select.poll().poll(0)",
        "threading.Event().wait(0)",
        "pid = os.posix_spawn('/bin/true', ['true'], {})\n"
        "while os.waitpid(pid, os.WNOHANG) == (0, 0):\n"
        "    await asyncio.sleep(0.001)",
        "r, w = os.pipe()\nos.set_blocking(r, False)\nos.set_blocking(w, False)\n"
        "os.write(w, b'x')\nos.read(r, 1)",
        "fd = os.open('/proc/self/stat', os.O_RDONLY)\nos.read(fd, 4096)\nos.close(fd)",
        "fd = os.open('/dev/null', os.O_WRONLY)\nos.write(fd, b'x')\nos.close(fd)",
        "lock = threading.Lock()\nwith lock:\n    pass",
    ],
    ids=[
        "select-0",
        "poll-0",
        "event-0",
        "waitpid-WNOHANG",
        "nonblocking-pipe",
        "proc-read",
        "devnull-write",
        "uncontended-lock",
    ],
)
def test_calls_that_cannot_wait_are_not_reported(body: str) -> None:
    assert _run(body) == (0, "")


def test_a_lock_held_by_another_thread_is_reported() -> None:
    body = """
lock = threading.Lock()
held, done = threading.Event(), threading.Event()
def hold() -> None:
    with lock:
        held.set()
        done.wait()
thread = threading.Thread(target=hold)
thread.start()
await asyncio.to_thread(held.wait)
lock.acquire(timeout=0.01)
done.set()
await asyncio.to_thread(thread.join)
"""
    count, stderr = _run(body)
    assert count == 1, stderr
    assert "threading.Lock.acquire(timeout=0.01) of a lock another thread holds" in stderr


_LIKE_FORK_EXEC = """
code = "def fork_exec():\\n    time.sleep(0.01)\\n"
known = {"time": time}
exec(compile(code, "/somewhere/corral/_platform/posix/child.py", "exec"), known)
"""
"""Defines `known["fork_exec"]`, whose frame looks like a KNOWN entry's posix/child.py
fork_exec() (the entry the daemon needed until its sandboxed spawns awaited the exec)."""


def test_a_known_call_is_reported_only_when_asked_for() -> None:
    call = 'known["fork_exec"]()'
    entry = (("corral/_platform/posix/child.py", "fork_exec", "an example"),)
    assert _run(call, before=_LIKE_FORK_EXEC, entries=entry) == (0, "")
    count, stderr = _run(call, before=_LIKE_FORK_EXEC, known=("fork_exec",), entries=entry)
    assert count == 1
    assert "time.sleep(0.01)" in stderr
    assert 'File "/somewhere/corral/_platform/posix/child.py", line 2, in fork_exec' in stderr


def test_only_a_known_entry_can_be_asked_for() -> None:
    with pytest.raises(ValueError, match=r"not in loop_guard\.KNOWN: nope"):
        LoopGuard(report_known=["nope"])


@pytest.mark.parametrize("entry", ALLOWED + KNOWN, ids=lambda entry: f"{entry[0]}:{entry[1]}")
def test_each_exemption_names_a_function_that_exists(entry: tuple[str, str, str]) -> None:
    ending, function, why = entry
    roots = [ROOT / "src", Path(sysconfig.get_paths()["stdlib"])]
    files = [root / ending for root in roots if (root / ending).is_file()]
    assert files, f"{ending} is neither in src/ nor in the standard library"
    tree = ast.parse(files[0].read_text())
    defined = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    assert function in defined, f"{ending} defines no {function}()"
    assert why
