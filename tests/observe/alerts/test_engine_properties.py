"""Properties of the engine, against a naive model that checks every rule on every sample.

The engine indexes rules in sorted ladders and keeps timers in a heap; the model
walks every rule at every step. For any rules and any sequence of samples and
pauses they must agree, and the transitions must obey the rules of the game:
a rule fires only after its condition held, unbroken, for `hold`; never twice
without resolving; it resolves exactly when the condition stops holding.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from corral._observe.alerts.engine import Engine
from corral._observe.alerts.rules import Rule, parse_condition

OPS = (">", ">=", "<", "<=")


@dataclass
class ModelPair:
    since: float | None = None
    firing: bool = False


def holds(op: str, value: float, threshold: float) -> bool:
    return {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
    }[op]


rules_strategy = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 10), st.sampled_from([0, 1, 3, 5])),
    min_size=1,
    max_size=6,
)
steps_strategy = st.lists(
    st.tuples(
        st.sampled_from([0.5, 1.0, 2.0]),  # time passing
        st.one_of(st.none(), st.integers(0, 10), st.just(-1)),  # None: advance only; -1: absent
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(rules_strategy, steps_strategy)
def test_the_indexed_engine_agrees_with_checking_every_rule(
    specs: list[tuple[str, int, int]], steps: list[tuple[float, int | None]]
) -> None:
    rules = [
        Rule(f"r{i}", "web", parse_condition(f"processes {op} {t}"), hold=hold, repeat=0)
        for i, (op, t, hold) in enumerate(specs)
    ]
    engine = Engine(rules)
    model = [ModelPair() for _ in rules]
    history: list[tuple[float, int | None]] = []  # (time, value; None = absent)
    now = 0.0
    for dt, step in steps:
        now += dt
        expected: list[tuple[str, str]] = []
        if step is None:
            got = engine.advance(now)
        else:
            value = None if step == -1 else step
            history.append((now, value))
            got = engine.tick(
                now, {} if value is None else {"web:0": ("web", {"processes": value})}
            )
            for rule, pair, (op, threshold, _) in zip(rules, model, specs, strict=True):
                if value is not None and holds(op, value, threshold):
                    if pair.since is None:
                        pair.since = now
                elif pair.since is not None:
                    if pair.firing:
                        expected.append(("resolved", rule.name))
                    pair.since, pair.firing = None, False
        for rule, pair in zip(rules, model, strict=True):
            if pair.since is not None and not pair.firing and now >= pair.since + rule.hold:
                pair.firing = True
                expected.append(("firing", rule.name))
        assert sorted((t.kind, t.rule.name) for t in got) == sorted(expected)
        for t in got:
            if t.kind == "firing":  # every sample since it began to hold held
                op, threshold, hold = specs[int(t.rule.name[1:])]
                assert t.at >= t.since + hold
                seen = [v for at, v in history if t.since <= at <= t.at]
                assert seen
                assert all(v is not None and holds(op, v, threshold) for v in seen)
    firing = {f.rule.name for f in engine.firing()}
    assert firing == {rule.name for rule, pair in zip(rules, model, strict=True) if pair.firing}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.5, 1.0, 4.0]), st.booleans()), max_size=40))
def test_fired_and_resolved_alternate_for_every_rule(steps: list[tuple[float, bool]]) -> None:
    engine = Engine(
        [
            Rule("dead", "web", parse_condition("state == FATAL"), hold=2, repeat=3),
            Rule("oom", "web", parse_condition("exit == oom"), clear_after=2, repeat=3),
        ]
    )
    last: dict[str, str] = {}
    state, now = "RUNNING", 0.0
    for dt, flip in steps:
        now += dt
        got = engine.advance(now)
        if flip:
            new = "FATAL" if state == "RUNNING" else "RUNNING"
            got += engine.state_changed("web:0", "web", state, new, now)
            got += engine.exited("web:0", "web", signal="SIGKILL", oom=True, now=now)
            state = new
        for t in got:
            before = last.get(t.rule.name, "resolved")
            if t.kind == "firing":
                assert before == "resolved"
            else:
                assert before in ("firing", "repeat")
            last[t.rule.name] = t.kind


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["ok", "ERROR disk", "x ERROR", "Traceback", "", "ERR"]), max_size=12),
    st.lists(st.integers(1, 30), min_size=1, max_size=8),
    st.sampled_from(["^ERROR", "Traceback", "ERROR$", "(?i)error"]),
)
def test_a_log_pattern_is_found_whatever_the_reads_cut_lines_at(
    lines: list[str], cuts: list[int], pattern: str
) -> None:
    import re

    from corral._observe.alerts.logmatch import LogMatcher

    text = "".join(line + "\n" for line in lines).encode()
    expected = any(re.search(pattern.encode(), line.encode()) for line in lines)
    matcher, found, at = LogMatcher([(0, pattern)]), False, 0
    for size in itertools.cycle(cuts):
        if at >= len(text):
            break
        found |= bool(matcher.feed(text[at : at + size]))
        at += size
    found |= bool(matcher.flush())
    assert found == expected
