"""Figures, their targets, and the text and JSON reports."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.daemon.harness import percentile


@dataclass(frozen=True, slots=True)
class Target:
    """An upper bound from the issue, and where it comes from."""

    limit: float
    text: str

    def met(self, value: float) -> bool:
        return value <= self.limit


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure: a median (or a single value) and its tail."""

    group: str
    """The workload and size, such as "restart" or "scale 200 x numprocs"."""
    name: str
    unit: str
    """"ms", "s", "MiB" or "%"."""
    median: float
    tail: float = math.nan
    """p90 or p99 (see tail_label); NaN for single values."""
    tail_label: str = ""
    samples: int = 1
    target: Target | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.median)


def sampled(
    group: str,
    name: str,
    unit: str,
    values: Sequence[float],
    *,
    tail: float = 0.90,
    target: Target | None = None,
    note: str = "",
) -> Figure:
    """A Figure from samples: the median and the `tail` percentile."""
    return Figure(
        group,
        name,
        unit,
        percentile(values, 0.50),
        percentile(values, tail),
        f"p{round(tail * 100)}",
        len(values),
        target,
        note,
    )


@dataclass(slots=True)
class Report:
    """Every figure of a run, and the notes (decompositions, import lists) beside them."""

    command: str
    machine: dict[str, str]
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _value(value: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    if unit == "ms":
        return f"{value:,.2f} ms" if value < 100 else f"{value:,.0f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "%":
        return f"{value:.3f} %"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.1f} {unit}"


def table(figures: Sequence[Figure]) -> str:
    """The figures as a fixed-width table: median, tail, samples, target, verdict."""
    rows = [("figure", "median", "tail", "n", "target", "")]
    for f in figures:
        tail = "" if math.isnan(f.tail) else f"{f.tail_label} {_value(f.tail, f.unit)}"
        verdict = {None: "", True: "met", False: "MISSED"}[f.met]
        target = f.target.text if f.target else ""
        rows.append(
            (
                f"{f.group}: {f.name}",
                _value(f.median, f.unit),
                tail,
                str(f.samples),
                target,
                verdict,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0]), r[1].rjust(widths[1]), r[2].rjust(widths[2])]
        cells += [r[3].rjust(widths[3]), r[4].ljust(widths[4]), r[5]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def as_text(report: Report) -> str:
    head = [f"command: {report.command}"] + [f"{k}: {v}" for k, v in report.machine.items()]
    parts = ["\n".join(head), table(report.figures)]
    notes = [f"  {f.group}: {f.name}: {f.note}" for f in report.figures if f.note]
    if notes:
        parts.append("\n".join(["notes:", *notes]))
    parts += report.notes
    missed = [f for f in report.figures if f.met is False]
    targeted = [f for f in report.figures if f.met is not None]
    parts.append(f"targets: {len(targeted) - len(missed)} of {len(targeted)} met")
    return "\n\n".join(parts)


def as_json(report: Report) -> str:
    def num(value: float) -> float | None:
        return None if math.isnan(value) else round(value, 4)

    figures = [
        {
            "group": f.group,
            "name": f.name,
            "unit": f.unit,
            "median": num(f.median),
            "tail": num(f.tail),
            "tail_label": f.tail_label,
            "samples": f.samples,
            "target": None
            if f.target is None
            else {"limit": f.target.limit, "text": f.target.text},
            "met": f.met,
            "note": f.note,
        }
        for f in report.figures
    ]
    return json.dumps(
        {
            "command": report.command,
            "machine": report.machine,
            "figures": figures,
            "notes": report.notes,
        },
        indent=2,
    )


def print_figures(
    module: str,
    argv: Sequence[str] | None,
    figures: Sequence[Figure],
    *,
    as_json: bool,
    tail: str = "p90",
) -> int:
    """Print a small bench's figures (a table, or JSON with `--json`); 1 if a target is missed.

    `module` is how it is run (`bench.pool`), `argv` its arguments (None: sys.argv's),
    `tail` the name of each figure's tail percentile in the JSON.
    """
    import sys

    from bench.machine import machine

    command = f"python -m {module} " + " ".join(argv if argv is not None else sys.argv[1:])
    if as_json:
        rows = [
            {"name": f.name, "unit": f.unit, "p50": f.median, tail: f.tail, "met": f.met}
            for f in figures
        ]
        print(json.dumps({"command": command, "machine": machine(), "figures": rows}, indent=2))
    else:
        print(f"# {command.strip()}")
        for key, value in machine().items():
            print(f"# {key}: {value}")
        print(table(figures))
    return 0 if all(f.met is not False for f in figures) else 1
