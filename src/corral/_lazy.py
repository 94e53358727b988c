"""Lazy exports for the public façades: a name is imported from its module on first use.

`corral` keeps `import corral` cheap for the CLI, and `corral.coordinate` keeps the
etcd client out of a program that uses only the local locks, both this one way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any


def lazy_exports(
    facade: str,
    table: Mapping[str, str],
    namespace: MutableMapping[str, Any],
    public: Sequence[str],
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A façade's module `__getattr__` and `__dir__`: `table` maps a name to the module
    it comes from; a name once imported is kept in `namespace` (the façade's globals)."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {facade!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *public])

    return __getattr__, __dir__
