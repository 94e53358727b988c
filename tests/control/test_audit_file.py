"""AuditLog, the one recorder every control surface calls: its file, its lines, its failures."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

import corral
from corral._observe.audit import AuditLog, AuditRefused, read_records
from tests.support.waiting import DEADLINE


def test_each_record_is_one_line_in_the_order_of_the_calls(tmp_path: Path) -> None:
    log = AuditLog(str(tmp_path / "a.audit"))
    for index in range(3):
        log.record({"transport": "xmlrpc"}, {"method": "supervisor.stop", "n": index}, {"ok": 1})
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "a.audit").read_text().splitlines()]
    assert [line["what"]["n"] for line in lines] == [0, 1, 2]
    assert [list(line) for line in lines] == [["time", "who", "what", "result"]] * 3
    assert (log.written, log.failed) == (3, 0)
    assert stat.S_IMODE(os.stat(tmp_path / "a.audit").st_mode) == 0o600
    assert repr(log) == f"<AuditLog {tmp_path / 'a.audit'} closed written=3 failed=0>"


def _open_flags(path: Path) -> int:
    """The open flags of this process's fd on `path`, from /proc/self/fdinfo."""
    for fd in os.listdir("/proc/self/fd"):
        if os.readlink(f"/proc/self/fd/{fd}") == str(path):
            with open(f"/proc/self/fdinfo/{fd}") as info:
                line = next(line for line in info if line.startswith("flags:"))
            return int(line.split()[1], 8)
    raise AssertionError(f"no fd open on {path}")


def test_the_file_is_opened_for_appending_and_not_inherited(tmp_path: Path) -> None:
    path = tmp_path / "a.audit"
    log = AuditLog(str(path))
    try:
        flags = _open_flags(path)
        path.write_text("")  # truncated underneath: appends go to the new end, no hole
        log.record({}, {"method": "POST"}, {})
    finally:
        log.close()
    assert flags & os.O_APPEND
    assert flags & os.O_CLOEXEC
    assert flags & os.O_ACCMODE == os.O_WRONLY
    assert path.read_text().startswith('{"time": ')


def test_a_record_after_close_is_counted_as_failed(tmp_path: Path) -> None:
    log = AuditLog(str(tmp_path / "a.audit"))
    log.close()
    log.record({}, {}, {})
    assert (log.written, log.failed, log.last_error) == (0, 1, "the audit log is closed")


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_path_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "a.audit"
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path, 0o600)
    with pytest.raises(AuditRefused, match=f"audit log {path}"):
        AuditLog(str(path))


FULL_DISK = textwrap.dedent(
    """
    import json, resource, signal, sys
    from corral._observe.audit import AuditLog
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, write() fails with EFBIG
    heard = []
    log = AuditLog(sys.argv[1], on_error=heard.append)
    log.record({}, {"n": 0}, {})
    resource.setrlimit(resource.RLIMIT_FSIZE, (200, resource.RLIM_INFINITY))
    for n in range(1, 6):
        log.record({}, {"n": n, "pad": "x" * 40}, {})
    counts = [log.written, log.failed, list(heard)]
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    log.record({}, {"n": 9}, {})  # space again: this one is written, on a line of its own
    print(json.dumps(counts + [log.written]))
    """
)


def test_a_failing_write_is_counted_reported_once_and_its_cut_line_ended(tmp_path: Path) -> None:
    script = tmp_path / "full.py"
    script.write_text(FULL_DISK)
    result = corral.run(
        [sys.executable, str(script), str(tmp_path / "a.audit")],
        extra_env={"PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=DEADLINE,
    )
    written, failed, heard, after = json.loads(result.stdout_text)
    assert (written, failed, heard, after) == (1, 5, ["File too large"], 2)
    first, cut, last = read_records(str(tmp_path / "a.audit"), None)
    assert json.loads(first)["what"] == {"n": 0}
    assert len(first) + 1 + len(cut) == 200  # the limit: the second record was cut there
    assert cut.endswith(b'"re')
    assert json.loads(last)["what"] == {"n": 9}


def test_read_records_gives_the_last_n_oldest_first(tmp_path: Path) -> None:
    log = AuditLog(str(tmp_path / "a.audit"))
    for index in range(50):
        log.record({}, {"n": index}, {})
    log.close()
    last = [json.loads(line)["what"]["n"] for line in read_records(str(tmp_path / "a.audit"), 3)]
    assert last == [47, 48, 49]
    assert len(read_records(str(tmp_path / "a.audit"), None)) == 50
    with pytest.raises(FileNotFoundError):
        read_records(str(tmp_path / "absent"), 3)
