"""InstanceDriver carries out the machine's steps one input at a time, and only those.

The instances here are real processes, driven by a real reaper and event log; the
inputs fed from inside a step come from an event subscriber, the way any observer of
the state events could feed one.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral._lifecycle.messages import StartRequested, Step, StopRequested
from corral._lifecycle.policy import RestartPolicy
from corral._lifecycle.states import InstanceState
from corral._observe.events import Event, EventLog
from corral._observe.logs.directory import LogDirectory
from corral._process.reaper import OwningReaper
from corral._process.retry import Backoff
from corral._process.spec import ProcessSpec
from corral._sandbox.spec import Sandbox
from corral._supervisor.model.program import LogPolicy, Program
from corral._supervisor.runtime.driver import InstanceDriver
from tests.support.pids import watch
from tests.support.waiting import DEADLINE, wait_until

HELPERS = Path(__file__).resolve().parents[2] / "helpers"
S = InstanceState


def _program(start_seconds: float) -> Program:
    argv = (sys.executable, str(HELPERS / "trap_term.py"), "exit")
    return Program(
        name="web",
        process=ProcessSpec(argv=argv),
        restart=RestartPolicy(mode="never", start_seconds=start_seconds),
        stop_timeout=DEADLINE,
    )


@pytest.fixture
def log_dir(tmp_path: Path) -> Iterator[LogDirectory]:
    """The test's log directory, open as the Supervisor holds it."""
    directory = LogDirectory(str(tmp_path))
    yield directory
    directory.close()


async def _until(driver: InstanceDriver, state: InstanceState) -> None:
    """Wait (on the driver's own change callbacks) until the instance is in `state`."""
    reached = asyncio.get_running_loop().create_future()

    def check(changed: InstanceDriver) -> None:
        if changed.machine.state is state:
            reached.set_result(None)
        else:
            changed.call_at_next_change(check)

    if driver.machine.state is not state:
        driver.call_at_next_change(check)
        async with asyncio.timeout(DEADLINE):
            await reached


def test_an_input_fed_while_a_step_is_carried_out_waits_for_its_actions(
    log_dir: LogDirectory,
) -> None:
    seen: list[tuple[str, bool]] = []
    """(new state, whether the driver had a process tree) at each state event."""
    fed: list[Step | None] = []

    async def scenario() -> InstanceState:
        reaper = OwningReaper()
        reaper.install(asyncio.get_running_loop())
        events = EventLog()
        driver = InstanceDriver(_program(30), 0, reaper=reaper, events=events, log_dir=log_dir)

        def on_event(event: Event) -> None:
            seen.append((str(event.data["new"]), driver.tree is not None))
            if event.data["new"] == "STARTING" and not fed:
                # Emitted before the step's Spawn action runs: the stop must wait for it.
                fed.append(driver.feed(StopRequested()))

        unsubscribe = events.subscribe(on_event)
        try:
            driver.feed(StartRequested())
            await _until(driver, S.STOPPED)
            await driver.wait_swept()
            return driver.machine.state
        finally:
            unsubscribe()
            await driver.close()
            reaper.uninstall()

    assert asyncio.run(scenario(), debug=True) is S.STOPPED
    # The stop is applied only after the Spawn of the step before it ran (a tree exists).
    assert seen[:2] == [("STARTING", False), ("STOPPING", True)]
    assert fed == [None], "fed while a step was carried out, the input is queued"
    assert seen[-1] == ("STOPPED", True)


def test_feed_returns_the_step_of_its_input_and_of_nothing_queued_behind_it(
    log_dir: LogDirectory,
) -> None:
    async def scenario() -> tuple[Step | None, InstanceState]:
        reaper = OwningReaper()
        reaper.install(asyncio.get_running_loop())
        events = EventLog()
        driver = InstanceDriver(_program(0), 0, reaper=reaper, events=events, log_dir=log_dir)
        try:
            step = driver.feed(StartRequested())
            state = driver.machine.state  # Spawned was applied in the same call
            driver.feed(StopRequested())
            await _until(driver, S.STOPPED)
            return step, state
        finally:
            await driver.close()
            reaper.uninstall()

    step, state = asyncio.run(scenario(), debug=True)
    assert step is not None
    assert (step.old, step.new, step.reason) == (S.STOPPED, S.STARTING, "start requested")
    assert state is S.RUNNING, (
        "the Spawned input the Spawn action queued is applied before feed returns"
    )


def test_the_group_a_root_leaves_behind_dies_with_it_and_backoff_lets_the_swept_tree_go(
    tmp_path: Path, log_dir: LogDirectory
) -> None:
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    script = f"sleep 300 & echo $!; read line < {fifo}; exit 3"
    program = Program(
        name="web",
        process=ProcessSpec(argv=("sh", "-c", script)),
        restart=RestartPolicy(start_seconds=0, backoff=Backoff(initial=300, jitter=0)),
        logs=LogPolicy(timestamps=False),
    )
    log = tmp_path / "web.0.stdout.log"

    async def scenario() -> tuple[InstanceState, bool]:
        reaper = OwningReaper()
        reaper.install(asyncio.get_running_loop())
        driver = InstanceDriver(program, 0, reaper=reaper, events=EventLog(), log_dir=log_dir)
        try:
            driver.feed(StartRequested())
            await asyncio.to_thread(
                wait_until, lambda: log.read_text().endswith("\n"), what="the sleeper's pid"
            )
            with watch([int(log.read_text())]) as deaths:
                await asyncio.to_thread(fifo.write_text, "exit\n")  # the root exits 3
                await _until(driver, S.BACKOFF)
                state, kept = driver.machine.state, driver.tree is not None
                await asyncio.to_thread(deaths.assert_dead)
            driver.feed(StopRequested())
            await _until(driver, S.STOPPED)
            return state, kept
        finally:
            await driver.close()
            reaper.reap()
            reaper.uninstall()

    state, kept = asyncio.run(scenario(), debug=True)
    assert state is S.BACKOFF
    assert not kept, "BACKOFF sweeps the old tree: the restart must not leave its strays"


def test_a_sandboxed_spawn_is_awaited_on_the_loop_and_inputs_wait_for_its_outcome(
    log_dir: LogDirectory,
) -> None:
    # The fork path's child runs its sandbox steps before it execs; the driver waits for
    # its report on the loop instead of blocking there, and a stop fed meanwhile is
    # applied only once the spawn's outcome is known.
    seen: list[str] = []
    boxed = Program(
        name="boxed",
        process=ProcessSpec(
            argv=(sys.executable, str(HELPERS / "trap_term.py"), "exit"),
            sandbox=Sandbox(rlimits={"core": 0}),  # any sandbox takes the fork path
        ),
        restart=RestartPolicy(mode="never", start_seconds=0),
        stop_timeout=DEADLINE,
    )

    async def scenario() -> tuple[InstanceState, InstanceState, bool]:
        reaper = OwningReaper()
        reaper.install(asyncio.get_running_loop())
        events = EventLog()
        events.subscribe(lambda event: seen.append(str(event.data["new"])))
        driver = InstanceDriver(boxed, 0, reaper=reaper, events=events, log_dir=log_dir)
        try:
            driver.feed(StartRequested())
            in_flight = driver.machine.state, driver.live_pid is None
            held = driver.feed(StopRequested())  # no loop turn yet: the report is unread
            await _until(driver, S.STOPPED)
            assert held is None
            return in_flight[0], driver.machine.state, in_flight[1]
        finally:
            await driver.close()
            reaper.uninstall()

    during, after, no_pid_yet = asyncio.run(scenario(), debug=True)
    assert (during, no_pid_yet, after) == (S.STARTING, True, S.STOPPED)
    assert seen == ["STARTING", "RUNNING", "STOPPING", "STOPPED"]


def test_a_sandboxed_spawn_that_fails_in_the_child_is_a_spawn_failure(
    log_dir: LogDirectory,
) -> None:
    missing = Program(
        name="missing",
        process=ProcessSpec(argv=("/nonexistent/program",), sandbox=Sandbox(rlimits={"core": 0})),
        restart=RestartPolicy(mode="never", start_seconds=0),
    )

    async def scenario() -> tuple[InstanceState, str]:
        reaper = OwningReaper()
        reaper.install(asyncio.get_running_loop())
        driver = InstanceDriver(missing, 0, reaper=reaper, events=EventLog(), log_dir=log_dir)
        try:
            driver.feed(StartRequested())
            await _until(driver, S.FATAL)
            return driver.machine.state, driver.machine.reason or ""
        finally:
            await driver.close()
            reaper.uninstall()

    state, reason = asyncio.run(scenario(), debug=True)
    assert state is S.FATAL
    assert "/nonexistent/program" in reason
