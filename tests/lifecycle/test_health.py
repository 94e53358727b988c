"""Health rows and counting: Docker's rules for a liveness probe, and what `on_unhealthy` does."""

from __future__ import annotations

import pytest

from corral._errors import InvalidSpec
from corral._lifecycle.health import (
    Health,
    HealthCheck,
    HttpTarget,
    OnUnhealthy,
    TcpTarget,
    counted,
    next_probe_in,
    parse_probe_address,
    parse_status_range,
)
from corral._lifecycle.messages import (
    ArmTimer,
    CancelTimer,
    NotifiedReady,
    ProbeFinished,
    ProcessExited,
    SendStopSignal,
    Spawned,
    StartRequested,
)
from corral._lifecycle.states import InstanceState

from .harness import Harness, harness, policy

S = InstanceState
CHECK = HealthCheck(
    tcp="127.0.0.1:5432", interval=1, retries=3, start_period=10, start_interval=0.5
)
PASS = ProbeFinished(ok=True, output="connected")
FAIL = ProbeFinished(ok=False, output="connection refused")


def probed(*, on_unhealthy: OnUnhealthy = "restart", check: HealthCheck = CHECK) -> Harness:
    h = harness(policy(health=check, on_unhealthy=on_unhealthy))
    h.feed(StartRequested())
    h.feed(Spawned(41))
    return h


def test_without_notify_a_health_check_makes_it_running_at_the_first_pass() -> None:
    h = harness(policy(health=CHECK))
    h.feed(StartRequested())
    step = h.feed(Spawned(41))
    assert (step.new, step.actions, h.timer) == (S.STARTING, (), None)
    assert step.reason == "spawned pid 41; running once a health probe passes"
    step = h.feed(PASS, after=0.5)
    assert (step.old, step.new, step.reason) == (
        S.STARTING,
        S.RUNNING,
        "health probe passed: running",
    )
    health = h.machine.fields.health
    assert health is not None
    assert (health.state, health.streak) == ("healthy", 0)


def test_with_notify_ready_decides_running_and_a_pass_only_counts() -> None:
    h = harness(policy(health=CHECK, notify="sd_notify"))
    h.start()
    step = h.feed(PASS)
    assert (step.new, step.changed) == (S.STARTING, False)
    assert h.feed(NotifiedReady()).new is S.RUNNING


def test_failures_within_the_start_period_are_not_counted() -> None:
    h = probed()
    for _ in range(10):
        step = h.feed(FAIL, after=0.5)
        assert (step.new, step.actions) == (S.STARTING, ())
    health = h.machine.fields.health
    assert health is not None
    assert (health.state, health.streak, len(health.results)) == ("starting", 0, 5)


def test_retries_failures_in_a_row_after_the_start_period_make_it_unhealthy_and_end_it() -> None:
    h = probed()
    h.feed(FAIL, after=10.0)
    h.feed(FAIL, after=1.0)
    step = h.feed(FAIL, after=1.0)
    assert step.new is S.STARTING  # still its process, now being ended as failed
    assert step.actions == (CancelTimer(), SendStopSignal(), ArmTimer("stop", 10.0, 1))
    assert step.reason == (
        "unhealthy: 3 health probes failed in a row (last: connection refused): "
        "stop signal, SIGKILL in 10 s"
    )
    assert h.feed(PASS).ignored  # a result after that means nothing
    step = h.exit(None)
    assert (step.new, h.machine.failures) == (S.BACKOFF, 1)


def test_an_unhealthy_running_program_is_restarted_as_failed_whatever_its_exit_code() -> None:
    h = probed()
    h.feed(PASS)
    for _ in range(3):
        step = h.feed(FAIL, after=1.0)
    assert step.new is S.RUNNING
    assert SendStopSignal() in step.actions
    step = h.exit(0)
    assert step.new is S.BACKOFF
    assert step.reason.startswith("unhealthy: 3 health probes failed in a row")


def test_one_pass_resets_the_streak() -> None:
    h = probed()
    h.feed(PASS)
    h.feed(FAIL, after=1)
    h.feed(FAIL, after=1)
    h.feed(PASS, after=1)
    h.feed(FAIL, after=1)
    health = h.machine.fields.health
    assert health is not None
    assert (health.state, health.streak) == ("healthy", 1)


def test_on_unhealthy_stop_stops_it() -> None:
    h = probed(on_unhealthy="stop")
    h.feed(PASS)
    for _ in range(3):
        step = h.feed(FAIL, after=1)
    assert (step.new, step.actions[1]) == (S.STOPPING, SendStopSignal())
    assert step.reason.endswith("; on_unhealthy is stop; SIGKILL in 10 s if still running")
    assert h.exit(None).new is S.STOPPED


def test_on_unhealthy_none_only_reports() -> None:
    h = probed(on_unhealthy="none")
    h.feed(PASS)
    for _ in range(4):
        step = h.feed(FAIL, after=1)
        assert (step.new, step.actions) == (S.RUNNING, ())
    health = h.machine.fields.health
    assert health is not None
    assert (health.state, health.streak) == ("unhealthy", 4)
    step = h.feed(PASS, after=1)
    assert (step.new, step.actions) == (S.RUNNING, ())
    after = h.machine.fields.health
    assert after is not None
    assert (after.state, after.streak, after.results[-1].ok) == ("healthy", 0, True)


def test_a_new_spawn_starts_a_new_health_record() -> None:
    h = probed()
    h.feed(PASS)
    h.exit(1, after=2)
    h.fire()  # the backoff
    health = h.machine.fields.health
    assert health == Health(started=h.now)


def test_results_keep_the_last_five_with_the_head_of_the_output() -> None:
    health = Health(started=0.0)
    for n in range(7):
        health = counted(health, CHECK, True, f"{n}" + "x" * 300, float(n))
    assert [r.output[0] for r in health.results] == ["2", "3", "4", "5", "6"]
    assert all(len(r.output) == 200 for r in health.results)


def test_probes_run_every_start_interval_in_the_start_period_then_every_interval() -> None:
    health = Health(started=0.0)
    assert next_probe_in(health, CHECK, 1.0) == 0.5
    assert next_probe_in(health, CHECK, 10.0) == 1.0
    assert next_probe_in(health._replace(state="healthy"), CHECK, 1.0) == 1.0


@pytest.mark.parametrize(
    ("kind", "text", "target"),
    [
        ("tcp", "127.0.0.1:5432", TcpTarget("127.0.0.1", 5432)),
        ("tcp", "[::1]:80", TcpTarget("::1", 80)),
        ("tcp", "db.internal:5432", TcpTarget("db.internal", 5432)),
        ("http", "http://127.0.0.1:80/up", HttpTarget("127.0.0.1", 80, "/up", "127.0.0.1:80")),
        ("http", "http://[::1]:81/a?b=1", HttpTarget("::1", 81, "/a?b=1", "[::1]:81")),
        ("http", "http://localhost", HttpTarget("localhost", 80, "/", "localhost")),
    ],
)  # fmt: skip
def test_probe_addresses_are_read_by_one_function(
    kind: str, text: str, target: HttpTarget | TcpTarget
) -> None:
    assert parse_probe_address(kind, text) == target  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("tcp", "127.0.0.1"),
        ("tcp", "127.0.0.1:0"),
        ("tcp", "127.0.0.1:70000"),
        ("tcp", "::1:80"),
        ("tcp", "[nope]:80"),
        ("http", "https://127.0.0.1:8080/"),
        ("http", "127.0.0.1:8080/healthz"),
        ("http", "http://user:pw@127.0.0.1:8080/"),
        ("http", "http://127.0.0.1:x/"),
    ],
)
def test_malformed_probe_addresses_are_refused(kind: str, text: str) -> None:
    with pytest.raises(InvalidSpec):
        parse_probe_address(kind, text)  # type: ignore[arg-type]


def test_status_ranges() -> None:
    assert parse_status_range("200-399") == (200, 399)
    assert parse_status_range("204") == (204, 204)
    for bad in ("2xx", "399-200", "99", "200-600", ""):
        with pytest.raises(InvalidSpec):
            parse_status_range(bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of exec, http, tcp; got none"),
        ({"tcp": "127.0.0.1:1", "exec": ("true",)}, "got exec and tcp"),
        ({"tcp": "127.0.0.1:1", "interval": 0}, "interval must be a number of seconds > 0"),
        ({"tcp": "127.0.0.1:1", "retries": 0}, "retries must be >= 1"),
        ({"tcp": "127.0.0.1:1", "body": "ok"}, "status and body are for http probes only"),
    ],
)
def test_a_health_check_checks_itself(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        HealthCheck(**kwargs)  # type: ignore[arg-type]


def test_docker_defaults() -> None:
    check = HealthCheck(exec=("true",))
    assert (check.interval, check.timeout, check.retries) == (30.0, 30.0, 3)
    assert (check.start_period, check.start_interval, check.status) == (0.0, 5.0, "200-399")


def test_an_exit_before_any_probe_keeps_the_usual_failed_start() -> None:
    h = probed()
    assert h.feed(ProcessExited(1, None)).new is S.BACKOFF
