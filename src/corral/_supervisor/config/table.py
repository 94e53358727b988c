"""Tables and keys as data, and building a spec from a table's checked values.

A `Table` lists its `Key`s; each key has a kind (or a nested table) and names the
spec field its value fills. `construct` builds the spec from checked values; the
spec's own validation is the last word, and its message is reported at the key it
names (`namespaces.init needs namespaces.pid` points at `init`), else at the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from corral._errors import InvalidSpec
from corral._supervisor.config.kinds import Invalid, Kind, Problem, invalid
from corral._supervisor.config.positions import KeyPath

T = TypeVar("T")

Builder = Callable[[Mapping[str, object], KeyPath], Any]
"""Builds a table's spec from its checked values, for tables that spread over several specs."""

_WORD = re.compile(r"[A-Za-z_]+")


@dataclass(frozen=True, slots=True)
class Key:
    """One key of a table: its kind and the spec field its value fills."""

    name: str
    kind: Kind | Table
    spec: type[Any]
    field: str = ""
    """The spec's field, when it is named differently from the key."""
    doc: str = ""
    """Replaces the field's docstring in the reference, where config wording differs."""
    note: str = ""
    """Appended to the description in the reference."""
    default: str = ""
    """The default as the reference shows it, when the spec's own default is not it."""
    required: bool = False

    @property
    def target(self) -> str:
        """The spec field this key fills."""
        return self.field or self.name


@dataclass(frozen=True, slots=True)
class Table:
    """A TOML table with a fixed set of keys, built into `spec`."""

    title: str
    """How the reference and messages name the table."""
    spec: type[Any]
    keys: tuple[Key, ...]
    doc: str = ""
    renamed: Mapping[str, str] = field(default_factory=dict)
    """Names other tools use for a key (supervisord's), to suggest ours."""
    build: Builder | None = None
    """Builds the spec instead of `construct`'s one-key-one-field rule."""
    optional: bool = False
    """Absent means None (no spec at all), not the spec with its defaults."""

    def key(self, name: str) -> Key | None:
        """The key called `name`, if the table has one."""
        return next((key for key in self.keys if key.name == name), None)


def construct(
    table: Table, values: Mapping[str, object], path: KeyPath, defaults: Mapping[str, object]
) -> Any:
    """`table.spec` built from checked values over `defaults` (nested tables built first)."""
    if table.build is not None:
        return table.build(values, path)
    return fill(table, values, path, defaults)


def fill(
    table: Table, values: Mapping[str, object], path: KeyPath, defaults: Mapping[str, object]
) -> Any:
    """`table.spec` with each key's value in the field it names (what `construct` does)."""
    kwargs = dict(defaults)
    where: dict[str, KeyPath] = {}
    for name, value in values.items():
        key = table.key(name)
        if key is None:
            continue
        nested = key.kind if isinstance(key.kind, Table) else None
        kwargs[key.target] = (
            value if nested is None else construct(nested, as_table(value), (*path, name), {})
        )
        where[key.target] = (*path, name)
    return build_spec(table.spec, kwargs, path, f"{table.title} table", where)


def build_spec(
    spec: type[T],
    kwargs: Mapping[str, Any],
    path: KeyPath,
    what: str,
    where: Mapping[str, KeyPath] | None = None,
) -> T:
    """The spec's own validation is the last word; its message becomes the hint.

    `where` maps spec fields to the key paths that set them, so a message naming a
    field is reported at that key.
    """
    try:
        return spec(**kwargs)
    except InvalidSpec as exc:
        message = str(exc)
        at = blame(message, where or {}) or path
        raise invalid(at, f"a valid {what}", hint=message) from None


def blame(message: str, where: Mapping[str, KeyPath]) -> KeyPath | None:
    """The key path of the first field `message` names, if it names one."""
    for word in _WORD.findall(message):
        if word in where:
            return where[word]
    return None


def collect(problems: list[Problem], build: Callable[[], T]) -> T | None:
    """`build()`, or None with its problems added to `problems`."""
    try:
        return build()
    except Invalid as exc:
        problems.extend(exc.problems)
        return None


def as_table(value: object) -> Mapping[str, object]:
    """A nested table's checked values (check_table made them a dict)."""
    return value if isinstance(value, dict) else {}
