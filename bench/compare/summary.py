"""From the runs to one row per figure: before and after across the rounds, the ratio, a verdict.

Each run gives one value per figure (the benchmark's own p50 of its samples, or a
single value such as RSS). A figure's before (after) is the median of those values
over the rounds, and its tail the median of the runs' p99 (or p90). The ratio is
after over before. The rule for a verdict, with THRESHOLD = 1.05:

- **WORSE**: ratio > THRESHOLD, and every round of after is above every round of
  before (the two ranges do not overlap), so the difference is larger than the run's
  own noise;
- **better**: the mirror image;
- **unsure**: the ratio is beyond THRESHOLD either way, but the ranges overlap, or
  either side has fewer than MIN_ROUNDS rounds: more rounds are needed to tell;
- **same**: within THRESHOLD.

If the two trees were the same and the rounds interchangeable, the chance that n
rounds of after all land above n rounds of before is 1 / C(2n, n): 1/70 for 4 rounds
(the default), 1/12,870 for 8. Over some 25 figures a false WORSE therefore turns up
in a noisy 4-round run now and then; a WORSE is confirmed by running its group again
alone with more rounds (the conclusion prints the command).

A count (lines lost) is WORSE as soon as any round of after lost more than every
round of before. Floors (no corral code in them) get a verdict too: they should be
"same", and one that is not says that the machine changed under the run.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from bench.compare.runner import Run
from bench.compare.suites import Reading

THRESHOLD = 1.05
MIN_ROUNDS = 4
"""Fewer rounds on either side than this give at most "unsure" (1/C(2n, n) above)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One figure: its values per round in each tree."""

    reading: Reading
    """The first reading seen: the figure's label, unit and kind."""
    before: tuple[float, ...]
    after: tuple[float, ...]
    before_tail: tuple[float, ...]
    after_tail: tuple[float, ...]
    paired: tuple[float, ...]
    """after / before within each round that has both (the two runs nearest in time)."""

    @property
    def ratio(self) -> float:
        if not self.before or not self.after:
            return math.nan
        before, after = statistics.median(self.before), statistics.median(self.after)
        if before == 0:
            return 1.0 if after == 0 else math.inf
        return after / before

    @property
    def verdict(self) -> str:
        if not self.before or not self.after:
            return "missing"
        if self.reading.count:
            return "WORSE" if max(self.after) > max(self.before) else "same"
        ratio = self.ratio
        enough = min(len(self.before), len(self.after)) >= MIN_ROUNDS
        if ratio > THRESHOLD:
            return "WORSE" if enough and min(self.after) > max(self.before) else "unsure"
        if ratio < 1 / THRESHOLD:
            return "better" if enough and max(self.after) < min(self.before) else "unsure"
        return "same"


def _ratio(after: Reading, before: Reading) -> float | None:
    if before.p50 == 0:
        return None
    return after.p50 / before.p50


def rows(runs: Sequence[Run], groups: Collection[str] | None = None) -> list[Row]:
    """One Row per figure key (of `groups` only, if given), in the order first seen."""
    first: dict[str, Reading] = {}
    for run in runs:
        for key, reading in run.readings.items():
            if groups is None or reading.group in groups:
                first.setdefault(key, reading)
    by_round: dict[tuple[str, int, str], Reading] = {}
    for run in runs:
        for key, reading in run.readings.items():
            by_round[(run.tree, run.round, key)] = reading
    rounds = sorted({run.round for run in runs})
    found = []
    for key, reading in first.items():
        sides = {
            tree: [by_round[(tree, r, key)] for r in rounds if (tree, r, key) in by_round]
            for tree in ("before", "after")
        }
        pairs = [
            _ratio(by_round[("after", r, key)], by_round[("before", r, key)])
            for r in rounds
            if ("after", r, key) in by_round and ("before", r, key) in by_round
        ]
        found.append(
            Row(
                reading,
                tuple(x.p50 for x in sides["before"]),
                tuple(x.p50 for x in sides["after"]),
                tuple(x.tail for x in sides["before"] if x.tail is not None),
                tuple(x.tail for x in sides["after"] if x.tail is not None),
                tuple(p for p in pairs if p is not None),
            )
        )
    return found


# -- text ------------------------------------------------------------------------------


def value(x: float, unit: str) -> str:
    """A value in its unit, with as many digits as the unit needs."""
    if unit == "µs":
        return f"{x:,.0f} µs"
    if unit == "ms":
        return f"{x:,.2f} ms" if x < 100 else f"{x:,.0f} ms"
    if unit == "s":
        return f"{x:.3f} s"
    if unit == "MiB":
        return f"{x:.1f} MiB"
    if unit == "x":
        return f"{x:.3f}x"
    return f"{x:g} {unit}"


def _median(values: Sequence[float], unit: str) -> str:
    return value(statistics.median(values), unit) if values else "-"


def _spread(values: Sequence[float], unit: str) -> str:
    if len(values) < 2:
        return ""
    low, high = value(min(values), unit), value(max(values), unit)
    return f"[{low.split()[0]}-{high}]" if unit != "x" else f"[{low}-{high}]"


def _tail(values: Sequence[float], label: str, unit: str) -> str:
    return f"{label} {_median(values, unit)}" if values else ""


def _paired(row: Row) -> str:
    if not row.paired:
        return ""
    return f"{min(row.paired):.3f}-{max(row.paired):.3f}"


def table(found: Sequence[Row]) -> str:
    """Fixed-width: figure, before and after (median [range of the rounds]), tails, ratio."""
    head = (
        "figure",
        "before p50 [rounds]",
        "after p50 [rounds]",
        "after/before",
        "per round",
        "before tail",
        "after tail",
        "verdict",
    )
    lines: list[tuple[str, ...]] = [head]
    for row in found:
        unit, tail_label = row.reading.unit, row.reading.tail_label
        ratio = row.ratio
        lines.append(
            (
                row.reading.label,
                f"{_median(row.before, unit)} {_spread(row.before, unit)}".strip(),
                f"{_median(row.after, unit)} {_spread(row.after, unit)}".strip(),
                "-" if math.isnan(ratio) or math.isinf(ratio) else f"{ratio:.3f}",
                _paired(row),
                _tail(row.before_tail, tail_label, unit),
                _tail(row.after_tail, tail_label, unit),
                row.verdict + (" (floor)" if row.reading.floor else ""),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    right = {1, 2, 3, 4, 5, 6}
    return "\n".join(
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ).rstrip()
        for line in lines
    )


def _spread_pct(values: Sequence[float]) -> float | None:
    median = statistics.median(values) if len(values) >= 2 else 0.0
    return 100 * (max(values) - min(values)) / median if median else None


def noise(found: Sequence[Row]) -> list[str]:
    """How much the rounds moved: the spread of each side, and the floors' ratios."""
    timed = [row for row in found if not row.reading.count and row.reading.unit != "x"]
    lines = []
    for side in ("before", "after"):
        spreads = [s for row in timed if (s := _spread_pct(getattr(row, side))) is not None]
        if spreads:
            lines.append(
                f"{side}: (max - min) / median of the rounds' p50, per figure: median "
                f"{statistics.median(spreads):.1f} %, largest {max(spreads):.1f} %"
            )
    paired = [p for row in timed for p in row.paired]
    if paired:
        lines.append(
            f"after / before within a round, every figure and round: {min(paired):.3f} to "
            f"{max(paired):.3f}"
        )
    floors = [f"{row.reading.label} {row.ratio:.3f}" for row in timed if row.reading.floor]
    if floors:
        lines.append(
            "floors, after / before (1.000 when the load was the same): " + "; ".join(floors)
        )
    return lines


def conclusion(found: Sequence[Row], confirm: str) -> str:
    """Which figures are worse (and how to confirm them), unsure, missing; floors that moved.

    `confirm` is the command line to re-run a group with, ending in `--figures`."""
    worse = [row.reading.label for row in found if row.verdict == "WORSE" and not row.reading.floor]
    unsure = [
        row.reading.label for row in found if row.verdict == "unsure" and not row.reading.floor
    ]
    missing = [row.reading.label for row in found if row.verdict == "missing"]
    moved = [row.reading.label for row in found if row.reading.floor and row.verdict != "same"]
    parts = [f"WORSE: {'; '.join(worse)}" if worse else "none worse"]
    if worse:
        groups = sorted(
            {row.reading.group for row in found if row.verdict == "WORSE" and not row.reading.floor}
        )
        parts.append(f"confirm each with more rounds: {confirm} {','.join(groups)} --rounds 8")
    if unsure:
        parts.append(
            f"unsure (beyond {THRESHOLD:.2f}x, inside the noise; run more rounds): "
            + "; ".join(unsure)
        )
    if missing:
        parts.append(f"missing in a tree: {'; '.join(missing)}")
    if moved:
        parts.append(f"floors that moved (the machine changed under the run): {'; '.join(moved)}")
    return "\n".join(parts)


def as_dict(row: Row) -> dict[str, object]:
    """A Row for the JSON report."""
    ratio = row.ratio
    return {
        "key": row.reading.key,
        "group": row.reading.group,
        "figure": row.reading.label,
        "unit": row.reading.unit,
        "floor": row.reading.floor,
        "before": list(row.before),
        "after": list(row.after),
        "before_p50": statistics.median(row.before) if row.before else None,
        "after_p50": statistics.median(row.after) if row.after else None,
        "tail_label": row.reading.tail_label,
        "before_tail": statistics.median(row.before_tail) if row.before_tail else None,
        "after_tail": statistics.median(row.after_tail) if row.after_tail else None,
        "ratio": None if math.isnan(ratio) or math.isinf(ratio) else round(ratio, 4),
        "per_round_ratios": [round(p, 4) for p in row.paired],
        "verdict": row.verdict,
    }
