"""The model of `corral top`: a status reply and then events in, rows out (pure)."""

from __future__ import annotations

from typing import Any

from corral._control.top.cells import duration, header_text, row_cells, size, sparkline
from corral._control.top.model import Fleet, exit_of

T0 = 1_000_000.0


def _instance(name: str, state: str = "RUNNING", **more: Any) -> dict[str, Any]:
    live = state in ("STARTING", "RUNNING", "STOPPING")
    item = {
        "name": name,
        "program": name.partition(":")[0],
        "state": state,
        "pid": 100 + int(name.rpartition(":")[2]) if live else None,
        "uptime": 10.0 if live else None,
        "restarts": 0,
        "last_exit": None,
        "reason": "",
        "cpu_percent": None,
        "memory_rss": None,
        "processes": None,
        "limits": None,
        "health": None,
        "sample": None,
    }
    item.update(more)
    return item


def _status(*instances: dict[str, Any]) -> dict[str, Any]:
    daemon = {"version": "9.9", "uptime": 60.0, "sampler": {"interval": 5.0}}
    return {"daemon": daemon, "instances": list(instances)}


def _fleet(*instances: dict[str, Any]) -> Fleet:
    fleet = Fleet()
    fleet.load(_status(*instances), T0)
    return fleet


def _state(name: str, old: str, new: str, pid: int | None, reason: str = "") -> dict[str, Any]:
    data = {"old": old, "new": new, "pid": pid, "reason": reason}
    return {"seq": 1, "time": T0 + 5, "kind": "state", "subject": name, "data": data}


def _metrics(instances: dict[str, list[Any]], columns: list[str] | None = None) -> dict[str, Any]:
    host = {"cpu_percent": 12.5, "memory_used": 3 << 30, "memory_total": 8 << 30, "load": [1, 2, 3]}
    data = {
        "interval": 5.0,
        "host": host,
        "daemon_cpu_percent": 0.4,
        "daemon_memory_rss": 20 << 20,
        "columns": columns or ["cpu_percent", "memory_rss", "processes"],
        "instances": instances,
    }
    return {"seq": None, "time": T0 + 5, "kind": "metrics", "subject": "", "data": data}


def test_a_status_reply_becomes_one_row_per_instance_with_its_uptime_as_a_start_time() -> None:
    fleet = _fleet(_instance("web:0"), _instance("web:1", "STOPPED"))
    assert list(fleet.rows) == ["web:0", "web:1"]
    assert fleet.rows["web:0"].uptime(T0 + 2) == 12.0
    assert fleet.rows["web:1"].uptime(T0) is None
    assert fleet.counts() == {"RUNNING": 1, "STOPPED": 1}
    assert fleet.header.version == "9.9"
    assert fleet.header.started == T0 - 60


def test_an_exit_ends_the_uptime_and_records_how_the_process_ended() -> None:
    fleet = _fleet(_instance("web:0"))
    reason = "exited unexpectedly (exit 3); restart 1 in 0.1 s"
    change = fleet.apply(_state("web:0", "RUNNING", "BACKOFF", None, reason))
    row = fleet.rows["web:0"]
    assert change.rows == {"web:0"}
    assert not change.added
    assert (row.state, row.pid, row.since, row.last_exit) == ("BACKOFF", None, None, "exit 3")


def test_a_restart_by_the_policy_counts_and_a_new_live_state_restarts_the_clock() -> None:
    fleet = _fleet(_instance("web:0", "BACKOFF"))
    fleet.apply(_state("web:0", "BACKOFF", "STARTING", 555))
    row = fleet.rows["web:0"]
    assert (row.restarts, row.pid, row.since) == (1, 555, T0 + 5)
    fleet.apply(_state("web:0", "STARTING", "RUNNING", 555))
    assert (row.restarts, row.since) == (1, T0 + 5)  # still the same process


def test_an_instance_the_table_does_not_have_yet_is_added() -> None:
    fleet = _fleet(_instance("web:0"))
    change = fleet.apply(_state("web:1", "STOPPED", "STARTING", 7))
    assert change.added
    assert fleet.rows["web:1"].program == "web"


def test_a_metrics_message_fills_the_samples_the_sparklines_and_the_header() -> None:
    fleet = _fleet(_instance("web:0"), _instance("web:1"))
    change = fleet.apply(_metrics({"web:0": [50.0, 2048, 2], "gone:0": [1.0, 1, 1]}))
    row = fleet.rows["web:0"]
    assert change.rows == {"web:0"}  # an unknown name is not a row
    assert (row.cpu_percent, row.rss, row.processes, row.fds) == (50.0, 2048, 2, None)
    assert list(row.cpu_history) == [50.0]
    assert fleet.header.host_cpu == 12.5
    assert fleet.header.load == (1.0, 2.0, 3.0)
    assert fleet.header.samples == 1


def test_a_column_the_sample_names_is_read_by_its_name_so_fds_appear_when_sampled() -> None:
    fleet = _fleet(_instance("web:0"))
    fleet.apply(
        _metrics({"web:0": [9, 1.0, 1, 4096]}, ["fds", "cpu_percent", "processes", "memory_rss"])
    )
    row = fleet.rows["web:0"]
    assert (row.fds, row.cpu_percent, row.processes, row.rss) == (9, 1.0, 1, 4096)


def test_a_health_event_changes_only_the_health_and_other_kinds_change_nothing() -> None:
    fleet = _fleet(_instance("web:0"))
    event = {
        "seq": 2,
        "time": T0,
        "kind": "health",
        "subject": "web:0",
        "data": {"new": "unhealthy"},
    }
    assert fleet.apply(event).rows == {"web:0"}
    assert fleet.rows["web:0"].health == "unhealthy"
    noise = {"seq": 3, "time": T0, "kind": "log.dropped", "subject": "web:0", "data": {}}
    assert not fleet.apply(noise).rows


def test_a_daemon_event_or_a_gap_asks_for_the_status_again() -> None:
    fleet = _fleet()
    for kind in ("daemon", "gap", "reset"):
        assert fleet.apply(
            {"seq": None, "time": T0, "kind": kind, "subject": "", "data": {}}
        ).reload


def test_visible_rows_are_filtered_by_name_or_state_and_sorted_with_missing_values_last() -> None:
    fleet = _fleet(_instance("web:0"), _instance("web:1"), _instance("db:0", "STOPPED"))
    fleet.apply(_metrics({"web:0": [5.0, 10, 1], "web:1": [50.0, 5, 1]}))
    assert [r.name for r in fleet.visible(sort="cpu_percent")] == ["web:0", "web:1", "db:0"]
    assert [r.name for r in fleet.visible(sort="rss", reverse=True)][:2] == ["web:0", "web:1"]
    assert [r.name for r in fleet.visible("stopped")] == ["db:0"]
    assert [r.name for r in fleet.visible("WEB", sort="name", reverse=True)] == ["web:1", "web:0"]


def test_memory_share_is_rss_over_the_sandbox_memory_max() -> None:
    fleet = _fleet(_instance("web:0", limits={"cgroup.memory_max": 1000}))
    fleet.apply(_metrics({"web:0": [0.0, 250, 1]}))
    assert fleet.rows["web:0"].memory_share == 25.0


def test_exit_of_takes_the_parenthesised_exit_or_the_first_clause() -> None:
    assert exit_of("exited unexpectedly (exit 3); restart 4 in 0.094 s") == "exit 3"
    assert exit_of("stopped; by request") == "stopped"


def test_cells_render_as_exact_text() -> None:
    assert sparkline([0, 1, 2, 4], 10) == " ▃▅█"
    assert sparkline([], 10) == ""
    assert [duration(s) for s in (5, 65, 3700, 90000)] == ["5s", "1m05s", "1h01m", "1d01h"]
    assert [size(n) for n in (512, 2048, 3 << 20, 5 << 30)] == ["512B", "2.0K", "3.0M", "5.0G"]
    fleet = _fleet(_instance("web:0"))
    fleet.apply(_metrics({"web:0": [1.25, 2048, 1]}))
    cells = [text for text, _ in row_cells(fleet.rows["web:0"], T0 + 5)]
    assert cells[:8] == ["web:0", "RUNNING", "", "100", "15s", "0", "", "1.2"]
    header = header_text(fleet, T0 + 5, shown=1).plain
    assert header.startswith("corral 9.9  up 1m05s  RUNNING 1")
    assert "host cpu 12.5%  mem 3.0G/8.0G  load 1.00 2.00 3.00" in header
    assert header.endswith("showing 1/1  fds: not sampled")


def test_the_daemons_kept_samples_come_before_those_received() -> None:
    fleet = _fleet(_instance("web:0"))
    fleet.apply(_metrics({"web:0": [7.0, 70, 1]}))
    points = [
        {"time": T0 - n, "cpu_percent": float(n), "rss_bytes": n, "processes": 1} for n in (3, 2, 1)
    ]
    assert fleet.seed_history("web:0", points)
    assert list(fleet.rows["web:0"].cpu_history) == [
        3.0,
        2.0,
        7.0,
    ]  # the last kept one is the received one
    assert not fleet.seed_history("gone:0", points)


def test_an_instance_that_is_no_longer_live_shows_no_sample() -> None:
    fleet = _fleet(_instance("web:0"))
    fleet.apply(_metrics({"web:0": [5.0, 2048, 1]}))
    fleet.apply(_state("web:0", "RUNNING", "FATAL", None, "exited (exit 1)"))
    row = fleet.rows["web:0"]
    assert (row.cpu_percent, row.rss, row.processes) == (None, None, None)
