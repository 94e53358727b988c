"""The public surface, pinned: exact `__all__`, where each name lives, full annotations."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import corral

SURFACE: dict[str, dict[str, str]] = {
    "corral": {
        "AsyncProcess": "corral._process.async_handle",
        "Backoff": "corral._process.retry",
        "BadWorkingDirectory": "corral._errors",
        "BatchResult": "corral._process.many",
        "CircuitBreaker": "corral._process.breaker",
        "CircuitOpen": "corral._errors",
        "Command": "corral._process.command",
        "CommandOutcome": "corral._process.many",
        "CorralError": "corral._errors",
        "ExecutableNotFound": "corral._errors",
        "ExitStatusUnknown": "corral._errors",
        "ExitedNonZero": "corral._errors",
        "File": "corral._process.spec",
        "InvalidSpec": "corral._errors",
        "KilledBySignal": "corral._errors",
        "PermissionDenied": "corral._errors",
        "Pipeline": "corral._process.pipeline",
        "PipelineResult": "corral._process.result",
        "Process": "corral._process.handle",
        "ProcessFailed": "corral._errors",
        "ProcessSpec": "corral._process.spec",
        "Result": "corral._process.result",
        "RetryPolicy": "corral._process.retry",
        "SpawnError": "corral._errors",
        "StdinClosed": "corral._errors",
        "StillRunning": "corral._errors",
        "TimedOut": "corral._errors",
        "UnsupportedFeature": "corral._errors",
        "run": "corral._process.runner",
        "run_async": "corral._process.runner",
        "run_many": "corral._process.many",
        "run_many_async": "corral._process.many",
        "start": "corral._process.runner",
        "start_async": "corral._process.runner",
    },
    "corral.lowlevel": {
        "TREE_VARIABLE": "corral._process.spawn",
        "Feature": "corral._platform.features",
        "FeatureStatus": "corral._platform.features",
        "Launched": "corral._process.spawn",
        "Tree": "corral._process.tree",
        "become_subreaper": "corral._platform",
        "features": "corral._platform.features",
        "launch": "corral._process.spawn",
        "override_feature": "corral._platform.features",
    },
    "corral.coordinate": {
        "CoordinationError": "corral._errors",
        "EtcdClient": "corral._coordinate.etcd.client",
        "EtcdElection": "corral._coordinate.etcd.election",
        "EtcdGroup": "corral._coordinate.etcd.group",
        "EtcdLease": "corral._coordinate.etcd.lease",
        "EtcdLock": "corral._coordinate.etcd.lock",
        "FileLock": "corral._coordinate.filelock",
        "Holder": "corral._coordinate.holder",
        "LeaseLost": "corral._errors",
        "LocalElection": "corral._coordinate.election",
        "LockTimeout": "corral._errors",
        "Rendezvous": "corral._coordinate.hashing",
        "StoreUnavailable": "corral._errors",
        "jump_hash": "corral._coordinate.hashing",
    },
    "corral.pool": {
        "DeadlineMissed": "corral._errors",
        "Edf": "corral._pool.scheduling",
        "FairShare": "corral._pool.scheduling",
        "Fifo": "corral._pool.scheduling",
        "GroupStats": "corral._pool.stats",
        "Mlfq": "corral._pool.scheduling",
        "Pick": "corral._pool.scheduling",
        "Pool": "corral._pool.pool",
        "PoolStats": "corral._pool.stats",
        "Priority": "corral._pool.scheduling",
        "Scheduler": "corral._pool.scheduling",
        "SoftTimeout": "corral._errors",
        "TaskFailed": "corral._errors",
        "TaskTimedOut": "corral._errors",
        "WorkerDied": "corral._errors",
        "prometheus_text": "corral.pool",
    },
    "corral.sandbox": {
        "CgroupLimits": "corral._sandbox.spec",
        "Identity": "corral._sandbox.spec",
        "Namespaces": "corral._sandbox.spec",
        "Rlimit": "corral._sandbox.spec",
        "Sandbox": "corral._sandbox.spec",
        "Seccomp": "corral._sandbox.spec",
        "Veth": "corral._sandbox.spec",
    },
    "corral.testing": {
        "FakeProgram": "corral._process.fake",
        "spawn_fails": "corral.testing",
    },
}
"""Each façade's exact `__all__`, in order, and the module that defines each name: moving a
class or function to another module is a visible change to this table."""

SRC = Path(corral.__file__).parent
FACADES = [importlib.import_module(name) for name in SURFACE]


def test_every_facade_module_is_pinned() -> None:
    public = {f"corral.{p.stem}" for p in SRC.glob("*.py") if not p.name.startswith("_")}
    assert set(SURFACE) == {"corral"} | public
    assert {"corral", "corral.lowlevel", "corral.sandbox"} <= set(SURFACE)


@pytest.mark.parametrize("facade", list(SURFACE))
def test_all_is_exactly_the_pinned_surface(facade: str) -> None:
    pinned = list(SURFACE[facade])
    assert pinned, f"nothing is pinned for {facade}"
    assert sys.modules[facade].__all__ == pinned


def top_level_names(module: ModuleType) -> set[str]:
    """Names a module's own source binds at the top level (defs, classes, assignments)."""
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {target.id for target in targets if isinstance(target, ast.Name)}
    return names


@pytest.mark.parametrize(
    ("facade", "name"), [(facade, name) for facade, names in SURFACE.items() for name in names]
)
def test_each_name_is_defined_in_its_pinned_module(facade: str, name: str) -> None:
    value = getattr(sys.modules[facade], name)
    pinned = SURFACE[facade][name]
    if inspect.isclass(value) or inspect.isfunction(value):
        assert value.__module__ == pinned, f"{facade}.{name} is defined in {value.__module__}"
    else:  # a constant has no __module__: the pinned module must assign it, and hold it
        home = importlib.import_module(pinned)
        assert getattr(home, name, None) is value, f"{pinned} does not hold {facade}.{name}"
        assert name in top_level_names(home), f"{pinned} does not assign {name}"


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


def test_the_surface_checks_see_every_facade() -> None:
    seen = {name.rsplit(".", 1)[0] for name, _ in public_objects()}
    assert seen == set(SURFACE)
    assert len(list(public_callables())) > 50
