"""The public surface, pinned: exact `__all__`, where each name lives, full annotations."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import corral
import corral.lowlevel

CORRAL_ALL = [
    "AsyncProcess",
    "Backoff",
    "BadWorkingDirectory",
    "Command",
    "CorralError",
    "ExecutableNotFound",
    "ExitStatusUnknown",
    "ExitedNonZero",
    "File",
    "InvalidSpec",
    "KilledBySignal",
    "PermissionDenied",
    "Pipeline",
    "PipelineResult",
    "Process",
    "ProcessFailed",
    "ProcessSpec",
    "Result",
    "RetryPolicy",
    "SpawnError",
    "TimedOut",
    "UnsupportedFeature",
    "run",
    "run_async",
    "start",
    "start_async",
]

LOWLEVEL_ALL = [
    "TREE_VARIABLE",
    "Feature",
    "FeatureStatus",
    "Launched",
    "Tree",
    "become_subreaper",
    "features",
    "launch",
    "override_feature",
]

FACADES = [corral, corral.lowlevel]


def test_corral_all_is_exactly_the_library_surface() -> None:
    assert corral.__all__ == CORRAL_ALL


def test_lowlevel_all_is_exactly_its_surface() -> None:
    assert corral.lowlevel.__all__ == LOWLEVEL_ALL


def test_every_exported_name_resolves() -> None:
    for facade in FACADES:
        for name in facade.__all__:
            assert getattr(facade, name) is not None, f"{facade.__name__}.{name}"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Runner'"):
        _ = corral.Runner


def test_dir_lists_the_public_names() -> None:
    assert set(corral.__all__) <= set(dir(corral))


def public_objects() -> Iterator[tuple[str, Any]]:
    for facade in FACADES:
        for name in facade.__all__:
            value = getattr(facade, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                yield f"{facade.__name__}.{name}", value


@pytest.mark.parametrize(("name", "value"), list(public_objects()))
def test_public_names_are_defined_inside_corral(name: str, value: Any) -> None:
    assert value.__module__.startswith("corral."), f"{name} comes from {value.__module__}"


def public_callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    """Every public function, and every public method and property of public classes."""
    for name, value in public_objects():
        if inspect.isfunction(value):
            yield name, value
            continue
        if issubclass(value, BaseException):
            if "__init__" in vars(value):
                yield f"{name}.__init__", vars(value)["__init__"]
            continue
        for attr, member in vars(value).items():
            if attr.startswith("_") and attr not in ("__init__", "__enter__", "__aenter__"):
                continue
            if isinstance(member, property) and member.fget is not None:
                yield f"{name}.{attr}", member.fget
            elif isinstance(member, staticmethod | classmethod):
                yield f"{name}.{attr}", member.__func__
            elif inspect.isfunction(member):
                yield f"{name}.{attr}", member


@pytest.mark.parametrize(("name", "function"), list(public_callables()))
def test_public_callables_are_fully_annotated(name: str, function: Callable[..., Any]) -> None:
    annotations = function.__annotations__
    parameters = inspect.signature(function).parameters
    missing = [p for p in parameters if p not in ("self", "cls") and p not in annotations]
    assert not missing, f"{name} lacks annotations for {missing}"
    assert "return" in annotations, f"{name} lacks a return annotation"


def test_the_facade_modules_are_modules() -> None:
    assert all(isinstance(facade, ModuleType) for facade in FACADES)


def test_the_version_is_the_one_pyproject_declares() -> None:
    import tomllib

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["version"]
    assert corral.__version__ == declared
