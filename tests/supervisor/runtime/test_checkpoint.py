"""The checkpoint on its own: what the file holds, what a reader refuses, and how often it
is written (once per loop iteration with changes, however many instances changed)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from corral._observe.events import EventLog
from corral._process.reaper import OwningReaper
from corral._supervisor.config.load import load_config
from corral._supervisor.model.scale import Scaled
from corral._supervisor.runtime import checkpoint
from corral._supervisor.runtime.checkpoint import (
    Checkpoint,
    CorruptState,
    DaemonRecord,
    TreeRecord,
)
from corral._supervisor.runtime.snapshot import tree_view
from corral._supervisor.runtime.supervisor import Supervisor
from corral._supervisor.view import TreeView

RECORD = DaemonRecord(
    pid=4242,
    started=812.37,
    booted=1_700_000_000.25,
    trees=(
        TreeRecord("web:0", 5001, 5001, 900.5, "CORRAL_TREE=4242.1.ab12cd34"),
        TreeRecord("web:1", 5002, 5002, None, "CORRAL_TREE=4242.2.ab12cd34", ("/cg/a", "/cg/b")),
    ),
)


async def _next_iteration() -> None:
    """Return at the next iteration of the loop, after what `call_soon` scheduled before."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    loop.call_soon(done.set_result, None)
    await done


def test_a_record_survives_the_file_unchanged(tmp_path: Path) -> None:
    path = str(tmp_path / "corral.state")
    checkpoint.write(path, RECORD)
    assert checkpoint.read(path) == RECORD
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["corral.state"]


def test_scales_and_a_clean_shutdown_survive_the_file_unchanged(tmp_path: Path) -> None:
    path = str(tmp_path / "corral.state")
    kept = DaemonRecord(4242, 812.37, 1.0, (), {"web": Scaled(8, 2)}, clean=True)
    checkpoint.write(path, kept)
    assert checkpoint.read(path) == kept
    assert json.loads(Path(path).read_text())["scales"] == {"web": {"count": 8, "base": 2}}


def test_no_file_is_no_record(tmp_path: Path) -> None:
    assert checkpoint.read(str(tmp_path / "missing")) is None


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"format": 2}, "unknown format 2"),
        ({"daemon": {"pid": 1, "started": 1.0, "booted": 1.0}}, "not a process id: 1"),
        ({"daemon": {"pid": True, "started": 1.0, "booted": 1.0}}, "not a process id: True"),
        ({"daemon": {"pid": 9, "started": "x", "booted": 1.0}}, "not a time: 'x'"),
        ({"daemon": {"pid": 9, "started": float("nan"), "booted": 1.0}}, "not a time: nan"),
        ({"instances": [{"marker": "PATH=/bin"}]}, "not a tree marker: 'PATH=/bin'"),
        ({"instances": [{"marker": "CORRAL_TREE="}]}, "an empty tree marker"),
        ({"instances": [{"pgid": -1}]}, "not a process id: -1"),
        ({"instances": [{"pid": 0}]}, "not a process id: 0"),
        ({"instances": [{"cgroup": ["relative/dir"]}]}, "cgroup paths must be absolute"),
        ({"instances": [{"name": None}]}, "a malformed instance entry"),
        ({"instances": [{}], "drop": "started"}, "KeyError: 'started'"),
        ({"scales": {"web": {"count": 0, "base": 1}}}, "a malformed scale"),
        ({"scales": {"web": {"count": 2}}}, "KeyError: 'base'"),
        ({"clean": "yes"}, "clean must be true or false"),
    ],
)
def test_anything_unlike_what_a_daemon_writes_is_refused_whole(
    change: dict[str, object], complaint: str
) -> None:
    document = json.loads(checkpoint.encode(RECORD))
    for key, value in change.items():
        if key == "instances":
            entries = value if isinstance(value, list) else []
            document["instances"][0].update(entries[0])
        elif key == "drop":
            del document["instances"][0][str(value)]
        else:
            document[key] = value
    with pytest.raises(CorruptState, match=complaint.replace("(", r"\(")):
        checkpoint.decode(json.dumps(document).encode())


@pytest.mark.parametrize("raw", [b"", b"\x00\xff", b"[]", b'{"format": 1', b"null"])
def test_bytes_that_are_no_record_at_all_are_refused(raw: bytes) -> None:
    with pytest.raises(CorruptState):
        checkpoint.decode(raw)


def test_a_thousand_state_changes_in_one_iteration_write_the_file_once(tmp_path: Path) -> None:
    path = tmp_path / "corral.state"

    async def scenario() -> None:
        events = EventLog()
        trees: dict[str, TreeView] = {}
        saved = Checkpoint(str(path), lambda: trees, events=events)
        saved.start()
        assert saved.writes == 1
        me = os.getpid()
        for i in range(1000):  # what `stop all` does to a thousand instances at once
            trees[f"p:{i}"] = TreeView(root=me, pgid=os.getpgid(0), marker=f"CORRAL_TREE=t.{i}.x")
            events.emit("state", f"p:{i}", old="RUNNING", new="STOPPING", pid=me, reason="")
        events.emit("log.dropped", "p:0", stream="stdout", bytes=1, reason="disk full")
        assert saved.writes == 1  # not yet: at the next iteration
        await saved.flushed()
        assert saved.writes == 2
        record = checkpoint.read(str(path))
        assert record is not None
        assert [t.name for t in record.trees] == [f"p:{i}" for i in range(1000)]
        events.emit("log.dropped", "p:0", stream="stdout", bytes=1, reason="disk full")
        await _next_iteration()
        await saved.flushed()
        assert saved.writes == 2  # only state changes move the file
        await saved.close(remove_file=True)

    asyncio.run(scenario(), debug=True)
    assert not path.exists()


def test_only_the_entry_of_a_tree_that_changed_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a crash-looping instance among a thousand must not cost a thousand entries per write
    reads: list[int] = []
    real_start_time = checkpoint.start_time

    def counted(pid: int) -> float | None:
        reads.append(pid)
        return real_start_time(pid)

    monkeypatch.setattr(checkpoint, "start_time", counted)
    me, group = os.getpid(), os.getpgid(0)
    trees = {
        f"p:{i}": TreeView(root=me, pgid=group, marker=f"CORRAL_TREE=t.{i}.x") for i in range(1000)
    }

    async def scenario() -> None:
        saved = Checkpoint(str(tmp_path / "corral.state"), lambda: trees, events=EventLog())
        reads.clear()  # the daemon's own start time
        first = saved.record()
        assert len(reads) == 1000
        trees["p:7"] = TreeView(root=me, pgid=group, marker="CORRAL_TREE=t.7.restarted")
        del trees["p:9"]
        second = saved.record()
        assert len(reads) == 1001  # one new entry; the others are the same objects as before
        assert [t.name for t in second.trees] == [
            n for n in (t.name for t in first.trees) if n != "p:9"
        ]
        assert second.trees[7].marker == "CORRAL_TREE=t.7.restarted"
        assert all(a is b for a, b in zip(first.trees[:7], second.trees[:7], strict=True))

    asyncio.run(scenario())


def test_changes_during_a_write_are_written_once_when_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real_write = checkpoint.write

    def slow_write(path: str, record: DaemonRecord) -> None:
        assert release.wait(30), "the test never released the write"
        real_write(path, record)

    path = tmp_path / "corral.state"

    async def scenario() -> None:
        events = EventLog()
        trees: dict[str, TreeView] = {}
        saved = Checkpoint(str(path), lambda: trees, events=events)
        saved.start()  # written at once, on this thread
        monkeypatch.setattr(checkpoint, "write", slow_write)
        made = 0
        real_record = saved.record

        def counted() -> DaemonRecord:
            nonlocal made
            made += 1
            return real_record()

        monkeypatch.setattr(saved, "record", counted)
        me = os.getpid()
        for i in range(50):  # fifty iterations with a change each, while one write hangs
            trees[f"p:{i}"] = TreeView(root=me, pgid=os.getpgid(0), marker=f"CORRAL_TREE=t.{i}.x")
            events.emit("state", f"p:{i}", old="STARTING", new="RUNNING", pid=me, reason="")
            for _ in range(3):
                await _next_iteration()
        assert made == 1  # the write in flight; the changes since wait for it to end
        release.set()
        await saved.flushed()
        assert made == 2
        assert saved.writes == 3
        record = checkpoint.read(str(path))
        assert record is not None
        assert len(record.trees) == 50
        await saved.close(remove_file=True)

    asyncio.run(scenario(), debug=True)


def test_stopping_many_real_instances_writes_the_file_far_fewer_times_than_they_change(
    tmp_path: Path,
) -> None:
    instances = 40
    config_path = tmp_path / "corral.toml"
    config_path.write_text(
        f'[daemon]\nsocket = "{tmp_path}/api.sock"\nlog_dir = "{tmp_path}/logs"\n'
        f'[programs.sleeper]\ncommand = ["sleep", "300"]\nnumprocs = {instances}\n'
        "start_seconds = 0\n"
    )
    config = load_config(str(config_path))
    os.makedirs(config.daemon.log_dir)

    async def scenario() -> tuple[int, int, list[str]]:
        events = EventLog()
        reaper = OwningReaper()
        reaper.install(asyncio.get_running_loop())
        supervisor = Supervisor(config, events=events, reaper=reaper)

        def trees() -> dict[str, TreeView]:
            drivers = supervisor.drivers.items()
            return {name: tree_view(d.tree) for name, d in drivers if d.tree is not None}

        saved = Checkpoint(config.daemon.state_file, trees, events=events)
        saved.start()
        try:
            await supervisor.start_autostart()
            await _next_iteration()
            first = events.last_seq
            before = saved.writes
            await supervisor.stop(list(supervisor.drivers))
            await saved.flushed()
            changes = sum(e.kind == "state" for e in events.since(first))
            record = checkpoint.read(config.daemon.state_file)
            left = [] if record is None else [t.name for t in record.trees]
            return saved.writes - before, changes, left
        finally:
            await supervisor.shutdown()
            await saved.close(remove_file=True)
            reaper.uninstall()

    writes, changes, left = asyncio.run(scenario(), debug=True)
    assert changes == 2 * instances  # RUNNING -> STOPPING -> STOPPED, each
    assert 1 <= writes <= instances // 2, writes
    assert left == []
