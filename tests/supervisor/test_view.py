"""The read model: JSON round trips, the decoder's table, and its stdlib-only imports."""

from __future__ import annotations

import ast
import sys
import typing
from pathlib import Path

import pytest

from corral._supervisor import view
from corral._supervisor.view import (
    DaemonView,
    HealthResultView,
    HealthView,
    InstanceView,
    NotifyView,
    SamplerView,
    SampleView,
    StatusView,
    TreeView,
    from_json,
    to_json,
)

SAMPLER = SamplerView(
    interval=5.0, taken_at=1.5e9, sample_seconds=0.001, daemon_cpu_percent=None,
    daemon_memory_rss=20_000_000,
)  # fmt: skip
DAEMON = DaemonView(
    version="0.1.0", pid=42, uptime=3.5, config="/etc/corral.toml",
    states={"RUNNING": 1, "STOPPED": 1}, sampler=SAMPLER,
)  # fmt: skip


def _instance(name: str, *, live: bool) -> InstanceView:
    return InstanceView(
        name=name, program=name.split(":", maxsplit=1)[0], state="RUNNING" if live else "STOPPED",
        pid=1234 if live else None, uptime=2.0 if live else None, restarts=3,
        last_exit="exit 1", reason="", cpu_seconds=0.25 if live else None,
        cpu_percent=12.5 if live else None, memory_rss=4096 if live else None,
        processes=2 if live else None, limits={"cgroup.pids_max": 10} if live else None,
        cgroup={"pids": 2, "memory_peak": None} if live else None,
        log_dropped_bytes={"stdout": 0, "stderr": 7},
        sample=SampleView(cpu_percent=None, cpu_seconds=0.2, memory_rss=4096, processes=2)
        if live else None,
        tree=TreeView(root=1234, pgid=1234, marker="CORRAL_TREE=x", cgroup=("/sys/x",))
        if live else None,
    )  # fmt: skip


def test_a_status_survives_the_json_round_trip_unchanged() -> None:
    status = StatusView(daemon=DAEMON, instances=(_instance("web:0", live=True),
                                                  _instance("db:0", live=False)))  # fmt: skip
    import json

    assert from_json(StatusView, json.loads(json.dumps(to_json(status)))) == status


def test_a_reply_missing_a_field_is_refused_by_name() -> None:
    document = to_json(_instance("web:0", live=True))
    del document["restarts"]
    with pytest.raises(ValueError, match="InstanceView: the reply has no 'restarts'"):
        from_json(InstanceView, document)
    with pytest.raises(ValueError, match="expected an object"):
        from_json(StatusView, [])


def test_a_notify_view_round_trips_and_a_reply_without_one_reads_as_none() -> None:
    notify = NotifyView(
        protocol="sd_notify", socket="/run/corral/notify/1.sock", status="serving",
        phase=None, main_pid=1234, ignored=1, malformed=0,
    )  # fmt: skip
    instance = InstanceView(**{**to_json(_instance("web:0", live=False)), "notify": notify})
    assert from_json(InstanceView, to_json(instance)) == instance
    older = to_json(_instance("web:0", live=False))
    del older["notify"]
    assert from_json(InstanceView, older).notify is None


def test_a_health_view_round_trips_and_a_reply_without_one_reads_as_none() -> None:
    health = HealthView(
        kind="http", target="http://127.0.0.1:8080/healthz", state="unhealthy", streak=3,
        results=(HealthResultView(ago=0.25, ok=False, output="connection refused"),),
    )  # fmt: skip
    instance = InstanceView(**{**to_json(_instance("web:0", live=False)), "health": health})
    assert from_json(InstanceView, to_json(instance)) == instance
    older = to_json(_instance("web:0", live=False))
    del older["health"]
    assert from_json(InstanceView, older).health is None


def test_views_are_immutable() -> None:
    with pytest.raises(AttributeError):
        DAEMON.pid = 1  # type: ignore[misc]


def _view_types() -> list[type[view.View]]:
    return [
        value for value in vars(view).values()
        if isinstance(value, type) and issubclass(value, view.View)
        and value is not view.View
    ]  # fmt: skip


def test_the_decoders_table_names_every_nested_view_and_nothing_else() -> None:
    views = set(_view_types())
    expected: dict[tuple[str, str], tuple[type[view.View], bool]] = {}
    for cls in views:
        hints = typing.get_type_hints(cls)
        for name in cls._fields:
            hint = hints[name]
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            if hint in views:
                expected[(cls.__name__, name)] = (hint, False)
            elif typing.get_origin(hint) is tuple and args and args[0] in views:
                expected[(cls.__name__, name)] = (args[0], True)
            elif len(args) == 1 and args[0] in views:
                expected[(cls.__name__, name)] = (args[0], False)
    assert expected == view._NESTED


def test_the_view_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(view.__file__).read_text())
    imported = {
        ((node.module or "") if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }  # fmt: skip
    assert imported - {"__future__"} <= sys.stdlib_module_names


def test_every_field_of_every_view_has_a_docstring() -> None:
    from corral._docstrings import attribute_docs as field_docs

    for cls in _view_types():
        docs = field_docs(cls)
        missing = [name for name in cls._fields if not docs.get(name)]
        assert missing == [], cls.__name__


def test_a_view_needs_every_field_by_keyword_and_compares_by_value() -> None:
    tree = TreeView(root=5, pgid=5, marker="CORRAL_TREE=m")
    assert tree.cgroup == ()  # the default
    assert tree == TreeView(root=5, pgid=5, marker="CORRAL_TREE=m", cgroup=())
    assert tree != TreeView(root=6, pgid=5, marker="CORRAL_TREE=m")
    assert repr(tree) == "TreeView(root=5, pgid=5, marker='CORRAL_TREE=m', cgroup=())"
    with pytest.raises(TypeError, match=r"TreeView\(\) needs pgid="):
        TreeView(root=5, marker="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="has no field colour"):
        TreeView(root=5, pgid=5, marker="x", colour=1)  # type: ignore[call-arg]
    with pytest.raises(AttributeError, match="immutable"):
        del tree.root
