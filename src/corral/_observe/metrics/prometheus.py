"""Prometheus text exposition format (version 0.0.4): metric families -> text.

Pure rendering; which families exist is the caller's business. The format: a
`# HELP` and a `# TYPE` line per family, then one `name{label="value"} number` line
per sample. Help text escapes backslash and newline; label values also escape the
double quote. Numbers are Go-style floats: integers plainly, NaN and +Inf/-Inf by
those names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Family:
    """One metric: its name, help, type and samples."""

    name: str
    help: str
    type: Literal["gauge", "counter"]
    samples: Sequence[tuple[Labels, float]]


def render(families: Iterable[Family]) -> str:
    """The exposition text of `families`, in the order given."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        lines.extend(
            f"{family.name}{_labels(labels)} {_number(value)}" for labels, value in family.samples
        )
    return "\n".join(lines) + "\n" if lines else ""


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{name}="{_escape_value(value)}"' for name, value in labels.items())
    return "{" + inner + "}"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_value(text: str) -> str:
    return _escape_help(text).replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))
