"""Results: samples per metric and variant, their medians and spread, tables and targets.

Data first (`Results`, `Metric`, `Target`), text second: `text_report` prints one
table per metric (median, min-max over the runs, ratio to corral and to the floor
measured in the same run) and `markdown_summary` the one-table summary the docs quote.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

VARIANT_ORDER = (
    "floor-cat",
    "floor-devnull",
    "floor",
    "corral",
    "corral-ts",
    "supervisord",
    "circus",
    "pm2",
)
LABELS = {
    "floor-cat": "floor: writer | cat > file",
    "floor-devnull": "floor: writer > /dev/null",
    "corral": "corral",
    "corral-ts": "corral, timestamps on",
    "supervisord": "supervisord",
    "circus": "circus",
    "pm2": "PM2",
}
PEER_COLUMNS = ("supervisord", "circus", "pm2")


@dataclass(frozen=True, slots=True)
class Metric:
    """One figure every variant is measured on; lower is better for all of them."""

    key: str
    title: str
    unit: str
    digits: int = 2
    floor: str | None = None
    """Variant key of the floor this metric is compared with, if any."""
    floor_label: str | None = None
    """How the floor variant is named in this metric's table."""


@dataclass
class Results:
    """Samples (one per run) per metric key and variant; None where a run had no figure."""

    samples: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, metric: str, variant: str, value: float | None) -> None:
        self.samples.setdefault(metric, {}).setdefault(variant, []).append(value)

    def values(self, metric: str, variant: str) -> list[float]:
        return [v for v in self.samples.get(metric, {}).get(variant, []) if v is not None]

    def median(self, metric: str, variant: str) -> float | None:
        values = self.values(metric, variant)
        return statistics.median(values) if values else None

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


@dataclass(frozen=True, slots=True)
class Target:
    """A corral figure the issue sets a bound on; the bound may depend on other medians."""

    metric: str
    variant: str
    text: str
    bound: Callable[[Results], float | None]


def fixed(value: float) -> Callable[[Results], float | None]:
    return lambda _results: value


def times(factor: float, metric: str, variant: str) -> Callable[[Results], float | None]:
    """`factor` times another variant's median on `metric` (None if it has none)."""

    def bound(results: Results) -> float | None:
        other = results.median(metric, variant)
        return None if other is None else factor * other

    return bound


@dataclass(frozen=True, slots=True)
class Verdict:
    target: Target
    value: float | None
    bound: float | None

    @property
    def state(self) -> str:
        if self.value is None or self.bound is None:
            return "n/a"
        return "met" if self.value <= self.bound else "MISSED"


def verdicts(results: Results, targets: Sequence[Target]) -> list[Verdict]:
    return [Verdict(t, results.median(t.metric, t.variant), t.bound(results)) for t in targets]


# -- text --------------------------------------------------------------------------


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None or base == 0:
        return "-"
    return f"{value / base:.2f}x"


def _label(metric: Metric, variant: str) -> str:
    if variant == metric.floor and metric.floor_label:
        return f"floor: {metric.floor_label}"
    return LABELS.get(variant, variant)


def metric_table(results: Results, metric: Metric) -> str:
    """One metric: per variant the median, min-max over runs, vs corral, vs the floor."""
    by_variant = results.samples.get(metric.key, {})
    variants = [v for v in VARIANT_ORDER if v in by_variant]
    variants += [v for v in by_variant if v not in variants]
    corral = results.median(metric.key, "corral")
    floor = None if metric.floor is None else results.median(metric.key, metric.floor)
    width = max(len(_label(metric, v)) for v in variants)
    lines = [
        f"{metric.title} ({metric.unit})",
        f"  {'variant':<{width}}  {'median':>10}  {'min-max':>21}  {'runs':>4}  "
        f"{'vs corral':>9}  {'vs floor':>8}",
    ]
    for variant in variants:
        values = results.values(metric.key, variant)
        median = results.median(metric.key, variant)
        spread = f"{_num(min(values), metric.digits)}-{_num(max(values), metric.digits)}"
        missing = len(by_variant[variant]) - len(values)
        runs = f"{len(values)}" + (f"+{missing}?" if missing else "")
        lines.append(
            f"  {_label(metric, variant):<{width}}  {_num(median, metric.digits):>10}  "
            f"{spread if values else '-':>21}  {runs:>4}  {_ratio(median, corral):>9}  "
            f"{_ratio(median, floor):>8}"
        )
    return "\n".join(lines)


def verdict_text(results: Results, targets: Sequence[Target]) -> str:
    lines = ["corral targets (median against the bound)"]
    for v in verdicts(results, targets):
        label = LABELS.get(v.target.variant, v.target.variant)
        lines.append(
            f"  {v.state:<6}  {v.target.metric:<17} {label:<22} {v.target.text:<20} "
            f"{_num(v.value, 3):>9} vs {_num(v.bound, 3)}"
        )
    return "\n".join(lines)


def text_report(
    results: Results, metrics: Sequence[Metric], targets: Sequence[Target], head: Sequence[str]
) -> str:
    tables = [metric_table(results, m) for m in metrics if m.key in results.samples]
    parts = ["\n".join(head), *tables, verdict_text(results, targets)]
    if results.notes:
        parts.append("notes\n" + "\n".join(f"  - {n}" for n in results.notes))
    return "\n\n".join(parts) + "\n"


def markdown_summary(results: Results, metrics: Sequence[Metric], targets: Sequence[Target]) -> str:
    """One row per metric: the peers (and their ratio to corral), the floor, corral, verdict."""
    by_metric: dict[str, list[Verdict]] = {}
    for v in verdicts(results, targets):
        by_metric.setdefault(v.target.metric, []).append(v)
    rows = [
        "| figure | supervisord | circus | PM2 | floor | corral | corral target | met? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in metrics:
        if m.key not in results.samples:
            continue
        rows.extend(_markdown_rows(results, m, by_metric.get(m.key, [])))
    return "\n".join(rows) + "\n"


def _markdown_rows(results: Results, m: Metric, found: list[Verdict]) -> list[str]:
    corral = results.median(m.key, "corral")
    peers = []
    for variant in PEER_COLUMNS:
        value = results.median(m.key, variant)
        cell = _num(value, m.digits)
        if value is not None and corral:
            cell += f" ({_ratio(value, corral)})"
        peers.append(cell)
    floor = _num(results.median(m.key, m.floor), m.digits) if m.floor else "-"
    variants = ["corral"] + (["corral-ts"] if "corral-ts" in results.samples[m.key] else [])
    rows = []
    for variant in variants:
        mine = [v for v in found if v.target.variant == variant]
        title = f"{m.title} ({m.unit})" + (", timestamps on" if variant == "corral-ts" else "")
        target = "; ".join(v.target.text for v in mine) or "-"
        state = "; ".join(v.state for v in mine) or "-"
        mine_text = _num(results.median(m.key, variant), m.digits)
        cells = peers if variant == "corral" else ["", "", ""]
        rows.append(
            f"| {title} | {' | '.join(cells)} | {floor} | {mine_text} | {target} | {state} |"
        )
    return rows
