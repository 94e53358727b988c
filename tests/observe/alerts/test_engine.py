"""The alert engine, fed by hand: what fires, when, and when it resolves."""

from __future__ import annotations

from corral._observe.alerts.engine import Engine, Transition
from corral._observe.alerts.rules import Rule, parse_condition


def rule(
    name: str,
    condition: str,
    *,
    program: str = "web",
    hold: float = 0,
    repeat: float = 3600,
    clear_after: float = 60,
) -> Rule:
    return Rule(name, program, parse_condition(condition), hold, repeat, clear_after)


def kinds(transitions: list[Transition]) -> list[tuple[str, str, str]]:
    return [(t.kind, t.rule.name, t.instance) for t in transitions]


def sample(**metrics: float) -> dict[str, tuple[str, dict[str, float | None]]]:
    return {"web:0": ("web", dict(metrics))}


def test_a_metric_rule_fires_after_its_hold_and_resolves_when_it_stops_holding() -> None:
    engine = Engine([rule("big", "memory > 512M", hold=60)])
    assert engine.tick(0, sample(memory=600 * 2**20)) == []
    assert engine.tick(30, sample(memory=600 * 2**20)) == []
    fired = engine.tick(60, sample(memory=700 * 2**20))
    assert kinds(fired) == [("firing", "big", "web:0")]
    assert fired[0].since == 0
    assert fired[0].value == 700 * 2**20
    assert engine.tick(61, sample(memory=700 * 2**20)) == []  # never twice
    assert [f.instance for f in engine.firing()] == ["web:0"]
    assert kinds(engine.tick(62, sample(memory=100))) == [("resolved", "big", "web:0")]
    assert engine.firing() == []


def test_a_break_in_the_hold_starts_it_again() -> None:
    engine = Engine([rule("hot", "cpu > 90%", hold=60)])
    engine.tick(0, sample(cpu=95))
    engine.tick(50, sample(cpu=10))
    engine.tick(55, sample(cpu=95))
    assert engine.tick(100, sample(cpu=95)) == []
    assert kinds(engine.tick(115, sample(cpu=95))) == [("firing", "hot", "web:0")]


def test_only_the_rules_the_value_crosses_change() -> None:
    engine = Engine([rule(f"over{n}", f"processes > {n}") for n in (1, 5, 10)])
    assert kinds(engine.tick(0, sample(processes=6))) == [
        ("firing", "over1", "web:0"),
        ("firing", "over5", "web:0"),
    ]
    assert kinds(engine.tick(1, sample(processes=11))) == [("firing", "over10", "web:0")]
    assert kinds(engine.tick(2, sample(processes=3))) == [
        ("resolved", "over5", "web:0"),
        ("resolved", "over10", "web:0"),
    ]


def test_less_than_and_or_equal_compare_as_written() -> None:
    engine = Engine([rule("few", "fds < 10"), rule("atmost", "fds <= 10"), rule("ge", "fds >= 10")])
    assert sorted(kinds(engine.tick(0, sample(fds=10)))) == [
        ("firing", "atmost", "web:0"),
        ("firing", "ge", "web:0"),
    ]


def test_an_instance_missing_from_a_tick_resolves_its_metric_alerts() -> None:
    engine = Engine([rule("big", "memory > 1K")])
    engine.tick(0, sample(memory=4096))
    assert kinds(engine.tick(1, {})) == [("resolved", "big", "web:0")]


def test_a_rule_watches_only_its_program_unless_it_names_every_program() -> None:
    engine = Engine([rule("web", "cpu > 50"), rule("all", "cpu > 50", program="*")])
    fired = engine.tick(0, {"web:0": ("web", {"cpu": 80}), "db:0": ("db", {"cpu": 80})})
    assert sorted(kinds(fired)) == [
        ("firing", "all", "db:0"),
        ("firing", "all", "web:0"),
        ("firing", "web", "web:0"),
    ]


def test_an_unknown_value_leaves_the_rule_as_it_was() -> None:
    engine = Engine([rule("hot", "cpu > 50")])
    engine.tick(0, sample(cpu=80))
    assert engine.tick(1, {"web:0": ("web", {"cpu": None})}) == []
    assert len(engine.firing()) == 1


def test_repeats_come_at_most_once_per_interval_while_it_fires() -> None:
    engine = Engine([rule("big", "memory > 1K", repeat=10)])
    engine.tick(0, sample(memory=4096))
    assert engine.tick(5, sample(memory=4096)) == []
    assert kinds(engine.tick(10, sample(memory=4096))) == [("repeat", "big", "web:0")]
    assert engine.advance(15) == []
    assert kinds(engine.advance(20.5)) == [("repeat", "big", "web:0")]


def test_a_state_rule_holds_while_the_instance_is_in_that_state() -> None:
    engine = Engine([rule("dead", "state == FATAL", hold=5)])
    assert engine.state_changed("web:0", "web", "BACKOFF", "FATAL", 0) == []
    assert kinds(engine.advance(5)) == [("firing", "dead", "web:0")]
    resolved = engine.state_changed("web:0", "web", "FATAL", "STARTING", 9)
    assert kinds(resolved) == [("resolved", "dead", "web:0")]


def test_a_short_visit_to_a_state_does_not_fire() -> None:
    engine = Engine([rule("dead", "state == FATAL", hold=5)])
    engine.state_changed("web:0", "web", "BACKOFF", "FATAL", 0)
    engine.state_changed("web:0", "web", "FATAL", "STARTING", 1)
    assert engine.advance(100) == []


def test_a_health_rule_fires_when_the_instance_turns_unhealthy() -> None:
    engine = Engine([rule("sick", "health == unhealthy")])
    fired = engine.health_changed("web:0", "web", "healthy", "unhealthy", 0)
    assert kinds(fired) == [("firing", "sick", "web:0")]
    assert kinds(engine.health_changed("web:0", "web", "unhealthy", "healthy", 1)) == [
        ("resolved", "sick", "web:0")
    ]


def test_an_oom_exit_fires_once_and_clears_after_a_quiet_period() -> None:
    engine = Engine([rule("oom", "exit == oom", clear_after=30, repeat=0)])
    fired = engine.exited("web:0", "web", signal="SIGKILL", oom=True, now=0)
    assert kinds(fired) == [("firing", "oom", "web:0")]
    assert fired[0].value == "oom"
    assert engine.exited("web:0", "web", signal="SIGKILL", oom=True, now=20) == []
    assert engine.advance(40) == []  # 20 s after the second: not yet quiet for 30 s
    resolved = engine.advance(50)
    assert kinds(resolved) == [("resolved", "oom", "web:0")]
    assert resolved[0].count == 2


def test_exit_rules_match_a_signal_by_name_or_any_signal() -> None:
    engine = Engine([rule("killed", "exit == SIGKILL"), rule("any", "exit == signal")])
    assert sorted(kinds(engine.exited("web:0", "web", signal="SIGTERM", oom=False, now=0))) == [
        ("firing", "any", "web:0")
    ]
    assert kinds(engine.exited("web:1", "web", signal=None, oom=False, now=0)) == []


def test_restarts_in_a_window_are_counted_and_age_out() -> None:
    engine = Engine([rule("flapping", "restarts > 2 in 60s")])
    for t in (0, 10, 20):
        fired = engine.restarted("web:0", "web", t)
    assert kinds(fired) == [("firing", "flapping", "web:0")]
    assert fired[0].value == 3
    assert engine.advance(59) == []
    assert kinds(engine.advance(61)) == [("resolved", "flapping", "web:0")]


def test_a_log_rule_fires_on_a_match_and_counts_the_later_ones() -> None:
    engine = Engine([rule("trace", "log ~ Traceback", clear_after=5)])
    [(rid, _)] = engine.log_rules("web")
    assert engine.log_rules("db") == []
    assert kinds(engine.log_matched(rid, "web:0", "web", "Traceback (most", 0)) == [
        ("firing", "trace", "web:0")
    ]
    assert engine.log_matched(rid, "web:0", "web", "Traceback again", 1) == []
    assert engine.firing()[0].count == 2


def test_forgetting_an_instance_resolves_what_it_had() -> None:
    engine = Engine([rule("big", "memory > 1K"), rule("dead", "state == FATAL")])
    engine.tick(0, sample(memory=4096))
    engine.state_changed("web:0", "web", None, "FATAL", 0)
    assert sorted(kinds(engine.forget("web:0", 1))) == [
        ("resolved", "big", "web:0"),
        ("resolved", "dead", "web:0"),
    ]
    assert engine.holding() == 0


def test_the_end_of_a_process_resolves_its_metric_alerts_and_the_next_starts_afresh() -> None:
    engine = Engine([rule("big", "memory > 1K")])
    engine.tick(0, sample(memory=4096))
    assert kinds(engine.process_ended("web:0", 1)) == [("resolved", "big", "web:0")]
    assert kinds(engine.tick(2, sample(memory=4096))) == [("firing", "big", "web:0")]
