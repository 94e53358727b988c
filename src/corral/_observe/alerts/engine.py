"""The alert engine: observations in, firing / repeat / resolved transitions out.

Pure: no I/O and no clock; every call takes `now` (any monotonic seconds). The
caller feeds it samples (`tick`), state and health changes, restarts, exits and log
matches, and calls `advance` from time to time so that `for` holds, repeats and
clears come due.

Indexed, so a tick of a thousand instances stays cheap: the metric rules of each
(program, metric, comparison) are kept as one *ladder* sorted by threshold, and an
instance keeps, per ladder, how many of its rules hold (a prefix of the ladder). A
sample costs one bisection per ladder; only rules whose truth changed are touched.
State, health and exit rules are found by (program, value) in a dict; the pending
`for` holds, repeats and clears wait in one heap.

Semantics, which the property tests state:
- A metric keeps its last sampled value until the next sample (None: unchanged);
  an instance missing from a tick has no value (its metric rules stop holding).
- A lasting rule (metric, state, health) fires at the first `tick`/`advance` at
  least `hold` after it began to hold, if it held all along; never twice without
  resolving; it resolves at the first observation where it no longer holds.
- An occurring rule (exit, log) fires at an occurrence; later occurrences while it
  fires are counted, not fired; it resolves `clear_after` after the last one.
- While firing, a "repeat" is given every `repeat` seconds (0: never).
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from corral._observe.alerts.rules import Rule

Metrics = Mapping[str, float | None]
"""One instance's sample: cpu, memory, memory_percent, processes, fds (None: unknown)."""
Samples = Mapping[str, tuple[str, Metrics]]
"""Instance name -> (its program, its sample), for every live instance of a tick."""

_STRICT = {">": (1.0, True), ">=": (1.0, False), "<": (-1.0, True), "<=": (-1.0, False)}
_ANY = "*"
_RESTARTS_KEPT = 10_000
"""Restart times kept per instance at most (a rule needs threshold + 1 of them)."""


@dataclass(frozen=True, slots=True)
class Transition:
    """A rule began firing, fired again (repeat), or resolved, for one instance."""

    kind: str
    """"firing", "repeat" or "resolved"."""
    rule: Rule
    instance: str
    program: str
    since: float
    """When its condition began to hold (lasting) or first occurred (occurring)."""
    at: float
    """When this transition happened."""
    value: float | str | None
    """The last value seen: a metric's figure, a state, an exit reason, a log line."""
    count: int
    """Occurrences since it began firing (always 1 for a lasting rule)."""


@dataclass(frozen=True, slots=True)
class Firing:
    """One (rule, instance) firing now, for `corral alerts`."""

    rule: Rule
    instance: str
    program: str
    since: float
    fired_at: float
    value: float | str | None
    count: int


class _Pair:
    """One (rule, instance) whose condition holds or that fires; absent otherwise."""

    __slots__ = ("clear_at", "clear_timer", "count", "fired_at", "firing", "instance",
                 "program", "rid", "since", "timer", "value")  # fmt: skip

    def __init__(self, rid: int, instance: str, program: str, since: float) -> None:
        self.rid, self.instance, self.program, self.since = rid, instance, program, since
        self.firing = False
        self.fired_at = 0.0
        self.count = 0
        self.value: float | str | None = None
        self.clear_at = 0.0
        self.timer = -1
        """Token of its pending hold or repeat entry in the heap; others are stale."""
        self.clear_timer = -1
        """Token of its pending clear entry (occurring rules)."""


class _Ladder:
    """The rules of one (scope, metric, comparison), sorted so that those holding are a
    prefix: `count(value)` of them hold."""

    __slots__ = ("keys", "rids", "sign", "strict")

    def __init__(self, sign: float, strict: bool, rules: Iterable[tuple[float, int]]) -> None:
        ordered = sorted((threshold * sign, rid) for threshold, rid in rules)
        self.keys = [key for key, _ in ordered]
        self.rids = tuple(rid for _, rid in ordered)
        self.sign, self.strict = sign, strict

    def count(self, value: float) -> int:
        """How many of its rules hold at `value` (the first that many)."""
        find = bisect_left if self.strict else bisect_right
        return find(self.keys, value * self.sign)


class Engine:
    """Every rule of a config, indexed; the state of each (rule, instance) that holds."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        grouped: dict[tuple[str, str, str], list[tuple[float, int]]] = {}
        self._lasting: dict[tuple[str, str, str], list[int]] = {}
        self._exits: dict[str, list[int]] = {}
        self._logs: dict[str, list[int]] = {}
        for rid, rule in enumerate(self.rules):
            cond, scope = rule.condition, rule.program
            if cond.subject in _LADDERED:
                key = (scope, cond.metric, cond.op)
                grouped.setdefault(key, []).append((cond.threshold, rid))
            elif cond.lasting:
                self._lasting.setdefault((scope, cond.subject, cond.value), []).append(rid)
            elif cond.subject == "exit":
                self._exits.setdefault(scope, []).append(rid)
            else:
                self._logs.setdefault(scope, []).append(rid)
        self._ladders: dict[str, list[tuple[str, _Ladder]]] = {}
        """Scope -> its (metric, ladder) pairs."""
        for (scope, metric, op), members in grouped.items():
            sign, strict = _STRICT[op]
            self._ladders.setdefault(scope, []).append((metric, _Ladder(sign, strict, members)))
        self._plans: dict[str, tuple[_Step, ...]] = {}
        self._levels: dict[str, tuple[str, list[int]]] = {}
        """Instance -> how many rules of each ladder of its plan hold (sampled metrics)."""
        self._restart_levels: dict[str, list[int]] = {}
        self._restarts: dict[str, tuple[str, deque[float]]] = {}
        self._latest: dict[str, Metrics] = {}
        self._pairs: dict[tuple[int, str], _Pair] = {}
        self._heap: list[tuple[float, int, str, _Pair]] = []
        self._seq = itertools.count()
        self._out: list[Transition] = []
        """Where the call under way puts its transitions (`_begin`)."""
        self._windows = max(
            (r.condition.window for r in self.rules if r.condition.subject == "restarts"),
            default=0.0,
        )

    # -- feeding ---------------------------------------------------------------

    def tick(self, now: float, samples: Samples) -> list[Transition]:
        """A metrics tick: every live instance's sample; then `advance(now)`."""
        out = self._begin()
        plans, plan_of, all_levels, latest = self._plans, self._plan, self._levels, self._latest
        for instance, (program, metrics) in samples.items():  # _observe, inlined: the hot loop
            plan = plans.get(program) or plan_of(program)
            if not plan:
                continue
            latest[instance] = metrics
            kept = all_levels.get(instance)
            if kept is None:
                kept = all_levels[instance] = (program, [0] * len(plan))
            levels = kept[1]
            get = metrics.get
            for i, (metric, ladder, find, keys, sign) in enumerate(plan):
                value = get(metric)
                if value is not None:
                    level = find(keys, value * sign)
                    if level != levels[i]:
                        self._shift(
                            ladder, levels[i], level, instance, program, value=value, now=now
                        )
                        levels[i] = level
        for gone in self._levels.keys() - samples.keys():
            self._clear_levels(gone, now)
        out += self.advance(now)
        return out

    def state_changed(
        self, instance: str, program: str, old: str | None, new: str, now: float
    ) -> list[Transition]:
        """An instance went from state `old` to `new`."""
        return self._lasting_changed("state", instance, program, old, new, now=now)

    def health_changed(
        self, instance: str, program: str, old: str | None, new: str | None, now: float
    ) -> list[Transition]:
        """An instance's health went from `old` to `new` (None: no health state)."""
        return self._lasting_changed("health", instance, program, old, new, now=now)

    def restarted(self, instance: str, program: str, now: float) -> list[Transition]:
        """The instance was started again (counted by `restarts > N in W` rules)."""
        if not self._windows:
            return []
        kept = self._restarts.get(instance)
        if kept is None:
            kept = self._restarts[instance] = (program, deque(maxlen=_RESTARTS_KEPT))
        kept[1].append(now)
        out = self._begin()
        self._count_restarts(instance, program, kept[1], now)
        return out

    def exited(
        self, instance: str, program: str, *, signal: str | None, oom: bool, now: float
    ) -> list[Transition]:
        """The instance's process ended: by `signal` (e.g. "SIGKILL", or None) or the OOM
        killer (`oom`)."""
        out = self._begin()
        reason = "oom" if oom else signal
        for rid in self._scoped(self._exits, program):
            wanted = self.rules[rid].condition.value
            if (wanted == "oom" and oom) or (wanted == "signal" and signal) or wanted == signal:
                self._occur(rid, instance, program, reason, now)
        return out

    def log_rules(self, program: str) -> list[tuple[int, Rule]]:
        """(id, rule) of each log rule that watches `program`'s instances."""
        return [(rid, self.rules[rid]) for rid in self._scoped(self._logs, program)]

    def log_matched(
        self, rid: int, instance: str, program: str, line: str, now: float
    ) -> list[Transition]:
        """A line of the instance's output matched log rule `rid` (see `log_rules`)."""
        out = self._begin()
        self._occur(rid, instance, program, line, now)
        return out

    def process_ended(self, instance: str, now: float) -> list[Transition]:
        """The instance's process is gone (stopped, exited): its sampled metrics have no
        value from now on, as if it were missing from a tick; the next process starts afresh."""
        out = self._begin()
        if instance in self._levels:
            self._clear_levels(instance, now)
        return out

    def forget(self, instance: str, now: float) -> list[Transition]:
        """The instance no longer exists (a reload or scale removed it): resolve its alerts."""
        out = self._begin()
        self._levels.pop(instance, None)
        self._restart_levels.pop(instance, None)
        self._restarts.pop(instance, None)
        self._latest.pop(instance, None)
        for key in [key for key in self._pairs if key[1] == instance]:
            self._release(key[0], instance, now, None)
        return out

    def advance(self, now: float) -> list[Transition]:
        """Let time pass: holds that lasted `hold` fire, repeats and clears come due."""
        out = self._begin()
        for instance, (program, times) in list(self._restarts.items()):
            self._count_restarts(instance, program, times, now)
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, token, what, pair = heapq.heappop(heap)
            current = pair.clear_timer if what == "clear" else pair.timer
            if current != token or self._pairs.get((pair.rid, pair.instance)) is not pair:
                continue  # stale: the pair was released or rescheduled
            rule = self.rules[pair.rid]
            if what == "hold":
                self._fire(pair, now)
            elif what == "repeat":
                self._out.append(self._transition("repeat", pair, now))
                self._schedule(now + rule.repeat, "repeat", pair)
            elif now >= pair.clear_at:  # "clear"
                self._release(pair.rid, pair.instance, now, pair.value)
            else:
                self._schedule(pair.clear_at, "clear", pair)
        return out

    # -- reading ---------------------------------------------------------------

    def firing(self) -> list[Firing]:
        """Every (rule, instance) firing now, by rule name then instance."""
        found = [
            Firing(self.rules[p.rid], p.instance, p.program, p.since, p.fired_at, p.value, p.count)
            for p in self._pairs.values()
            if p.firing
        ]
        return sorted(found, key=lambda f: (f.rule.name, f.instance))

    def holding(self) -> int:
        """How many (rule, instance) pairs hold or fire (for tests and the daemon's figures)."""
        return len(self._pairs)

    # -- inside ----------------------------------------------------------------

    def _begin(self) -> list[Transition]:
        """A new list for the transitions of the public call that begins."""
        self._out = []
        return self._out

    def _plan(self, program: str) -> tuple[_Step, ...]:
        """The sampled ladders that concern `program`, each with what a sample needs of it."""
        plan = self._plans.get(program)
        if plan is None:
            scoped = [*self._ladders.get(program, ()), *self._ladders.get(_ANY, ())]
            plan = self._plans[program] = tuple(
                (metric, ladder, bisect_left if ladder.strict else bisect_right, ladder.keys,
                 ladder.sign)
                for metric, ladder in scoped
                if metric in _SAMPLED
            )  # fmt: skip
        return plan

    def _clear_levels(self, instance: str, now: float) -> None:
        program, levels = self._levels.pop(instance)
        self._latest.pop(instance, None)
        for (_, ladder, *_), level in zip(self._plan(program), levels, strict=False):
            if level:
                self._shift(ladder, level, 0, instance, program, value=None, now=now)

    def _count_restarts(self, instance: str, program: str, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self._windows:
            times.popleft()
        plan = [p for p in self._plan_all(program) if p[0].startswith("restarts/")]
        levels = self._restart_levels.get(instance)
        if levels is None:
            levels = self._restart_levels[instance] = [0] * len(plan)
        for i, (metric, ladder) in enumerate(plan):
            window = float(metric.partition("/")[2])
            count = sum(1 for t in times if t > now - window)
            level = ladder.count(count)
            if level != levels[i]:
                self._shift(ladder, levels[i], level, instance, program, value=count, now=now)
                levels[i] = level
        if not times and not any(levels):
            del self._restarts[instance]
            del self._restart_levels[instance]

    def _plan_all(self, program: str) -> list[tuple[str, _Ladder]]:
        return [*self._ladders.get(program, ()), *self._ladders.get(_ANY, ())]

    def _shift(
        self,
        ladder: _Ladder,
        old: int,
        new: int,
        instance: str,
        program: str,
        *,
        value: float | None,
        now: float,
    ) -> None:
        if new > old:
            for rid in ladder.rids[old:new]:
                self._hold(rid, instance, program, value, now)
        else:
            for rid in ladder.rids[new:old]:
                self._release(rid, instance, now, value)

    def _lasting_changed(
        self,
        subject: str,
        instance: str,
        program: str,
        old: str | None,
        new: str | None,
        *,
        now: float,
    ) -> list[Transition]:
        out = self._begin()
        if old == new:
            return out
        for scope in (program, _ANY):
            for rid in self._lasting.get((scope, subject, old or ""), ()):
                self._release(rid, instance, now, new)
            for rid in self._lasting.get((scope, subject, new or ""), ()):
                self._hold(rid, instance, program, new, now)
        return out

    def _scoped(self, index: Mapping[str, list[int]], program: str) -> list[int]:
        return [*index.get(program, ()), *index.get(_ANY, ())]

    def _hold(
        self,
        rid: int,
        instance: str,
        program: str,
        value: float | str | None,
        now: float,
    ) -> None:
        key = (rid, instance)
        if key in self._pairs:
            return
        pair = self._pairs[key] = _Pair(rid, instance, program, now)
        pair.value = value
        hold = self.rules[rid].hold
        if hold > 0:
            self._schedule(now + hold, "hold", pair)
        else:
            self._fire(pair, now)

    def _release(self, rid: int, instance: str, now: float, value: float | str | None) -> None:
        pair = self._pairs.pop((rid, instance), None)
        if pair is None:
            return
        if pair.firing:
            if value is not None and self.rules[rid].condition.lasting:
                pair.value = value
            self._out.append(self._transition("resolved", pair, now))

    def _occur(
        self,
        rid: int,
        instance: str,
        program: str,
        value: str | None,
        now: float,
    ) -> None:
        rule = self.rules[rid]
        pair = self._pairs.get((rid, instance))
        if pair is not None:
            pair.count += 1
            pair.value = value
            pair.clear_at = now + rule.clear_after
            return
        pair = self._pairs[(rid, instance)] = _Pair(rid, instance, program, now)
        pair.value = value
        pair.clear_at = now + rule.clear_after
        self._fire(pair, now)
        if rule.clear_after <= 0:
            self._release(rid, instance, now, value)
        else:
            self._schedule(pair.clear_at, "clear", pair)

    def _fire(self, pair: _Pair, now: float) -> None:
        rule = self.rules[pair.rid]
        pair.firing, pair.fired_at, pair.count = True, now, 1
        if rule.condition.lasting and rule.condition.subject in _SAMPLED:
            latest = self._latest.get(pair.instance)
            if latest is not None and latest.get(rule.condition.subject) is not None:
                pair.value = latest[rule.condition.subject]
        self._out.append(self._transition("firing", pair, now))
        if rule.repeat > 0:
            self._schedule(now + rule.repeat, "repeat", pair)

    def _schedule(self, due: float, what: str, pair: _Pair) -> None:
        token = next(self._seq)
        if what == "clear":
            pair.clear_timer = token
        else:
            pair.timer = token
        heapq.heappush(self._heap, (due, token, what, pair))

    def _transition(self, kind: str, pair: _Pair, now: float) -> Transition:
        return Transition(
            kind, self.rules[pair.rid], pair.instance, pair.program, pair.since, now,
            pair.value, pair.count,
        )  # fmt: skip


_Step = tuple[str, "_Ladder", "Callable[[list[float], float], int]", list[float], float]
"""(metric, ladder, its bisection, its keys, its sign): one ladder as a sample walks it."""
_SAMPLED = frozenset({"cpu", "memory", "memory_percent", "processes", "fds"})
"""Metrics a tick's samples carry; restarts are counted by the engine itself."""
_LADDERED = _SAMPLED | {"restarts"}
