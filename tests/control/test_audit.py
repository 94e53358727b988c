"""The audit log: one JSON line per mutating or refused API call, private, never via a symlink.

Real daemons, real clients on the unix socket and on TCP; the records are read from the
file the daemon wrote, and through `corral audit`.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import stat
import time
from pathlib import Path
from typing import Any

import pytest

import corral
from corral._control.client import Client
from corral._control.server.auditing import REFUSAL_BURST, REFUSALS_PER_SECOND
from corral._errors import ApiError
from tests.control.remote import TOKENS, tcp_port, token_keys
from tests.support.daemon import PYTHON, SLEEP_FOREVER, Daemon, daemon_argv, running_daemon
from tests.support.waiting import DEADLINE, wait_until

PROGRAMS = f"""
[programs.web]
command = {SLEEP_FOREVER}
autostart = false

[programs.bad]
command = ["/nonexistent/program"]
autostart = false
start_limit = {{ burst = 1 }}
"""
TIME_FORMAT = "YYYY-MM-DDTHH:MM:SS.mmmZ"


def _keys(tmp_path: Path) -> tuple[Path, str]:
    audit = tmp_path / "audit" / "corral.audit"
    return audit, f"audit_log = '{audit}'\n"


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _what(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["what"]["method"], r["what"]["path"]) for r in records]


def test_each_mutating_call_on_the_unix_socket_is_one_record_of_who_what_and_result(
    tmp_path: Path,
) -> None:
    audit, keys = _keys(tmp_path)
    with running_daemon(tmp_path, PROGRAMS, keys) as daemon:
        daemon.call("POST", "/start", {"targets": ["web"]})
        daemon.call("POST", "/signal", {"signal": "HUP", "targets": ["web:0"]})
        daemon.call("GET", "/status")  # reads are not recorded
        daemon.call("POST", "/start", {"targets": ["bad"]})
        daemon.call("POST", "/stop", {"targets": ["all"]})
        daemon.call("POST", "/reload")
    records = _records(audit)
    assert _what(records) == [
        ("POST", "/v1/start"),
        ("POST", "/v1/signal"),
        ("POST", "/v1/start"),
        ("POST", "/v1/stop"),
        ("POST", "/v1/reload"),
        ("POST", "/v1/shutdown"),  # the fixture's stop() ends the daemon through the API
    ]
    start, signal, failed, stop, reload, shutdown = records
    assert list(start) == ["time", "who", "what", "result"]
    assert len(start["time"]) == len(TIME_FORMAT)
    assert start["time"].endswith("Z")
    assert start["who"] == {"transport": "unix", "uid": os.getuid(), "pid": os.getpid()}
    assert start["what"]["targets"] == ["web"]
    assert start["result"] == {"status": 200, "ok": ["web:0"], "failed": []}
    assert signal["what"] == {
        "method": "POST",
        "path": "/v1/signal",
        "targets": ["web:0"],
        "signal": "HUP",
    }
    assert failed["result"] == {"status": 200, "ok": [], "failed": ["bad:0"]}
    assert sorted(stop["result"]["ok"]) == ["bad:0", "web:0"]
    assert reload["result"] == {"status": 200}
    assert shutdown["result"] == {"status": 202}
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600


def test_a_refused_call_is_recorded_with_its_status_and_error(tmp_path: Path) -> None:
    audit, keys = _keys(tmp_path)
    with running_daemon(tmp_path, PROGRAMS, keys) as daemon:
        for body in (
            {"targets": ["nosuch"]},
            {"targets": "web"},
            {"signal": "NOPE", "targets": []},
        ):
            path = "/signal" if "signal" in body else "/start"
            with pytest.raises(ApiError):
                daemon.call("POST", path, body)
    unknown, not_a_list, bad_signal = _records(audit)[:3]
    assert unknown["result"]["status"] == 404
    assert unknown["result"]["error"].startswith("no program or instance named 'nosuch'")
    assert not_a_list["what"] == {"method": "POST", "path": "/v1/start"}
    assert not_a_list["result"]["status"] == 400
    assert bad_signal["what"]["signal"] == "NOPE"
    assert bad_signal["result"]["status"] == 400


def _post(port: int, path: str, authorization: str | None, body: bytes = b"{}") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
    try:
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        connection.request("POST" if body else "GET", path, body=body or None, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_on_tcp_the_record_names_the_token_and_the_peer_address_and_401s_are_kept(
    tmp_path: Path,
) -> None:
    audit, keys = _keys(tmp_path)
    with running_daemon(tmp_path, PROGRAMS, keys + token_keys(tmp_path)) as daemon:
        port = tcp_port(daemon)
        with Client(tcp=("127.0.0.1", port), token=TOKENS["ci"]) as client:
            client.request("POST", "/v1/start", {"targets": ["web:0"]})
        refused_post = _post(port, "/v1/stop", "Bearer guessed-token-0123456789")
        refused_get = _post(port, "/v1/status", None, body=b"")
        allowed_get = _post(port, "/v1/status", f"bearer {TOKENS['ops']}", body=b"")
    assert (refused_post, refused_get, allowed_get) == (401, 401, 200)
    start, stop, status = _records(audit)[:3]
    assert start["who"]["transport"] == "tcp"
    assert start["who"]["token"] == "ci"
    assert start["who"]["address"].startswith("127.0.0.1:")
    assert "uid" not in start["who"]
    assert start["result"]["ok"] == ["web:0"]
    assert stop["who"].get("token") is None
    assert stop["what"] == {"method": "POST", "path": "/v1/stop"}  # its body was never read
    assert stop["result"] == {
        "status": 401,
        "error": "missing or wrong token; send `Authorization: Bearer <token>`",
    }
    assert (status["what"]["method"], status["result"]["status"]) == ("GET", 401)


def test_a_request_naming_thousands_of_targets_writes_one_bounded_line(tmp_path: Path) -> None:
    audit, keys = _keys(tmp_path)
    with running_daemon(tmp_path, PROGRAMS, keys) as daemon, pytest.raises(ApiError):
        daemon.call("POST", "/stop", {"targets": [f"nosuch{i}" for i in range(3000)]})
    line = audit.read_text().splitlines()[0]
    record = json.loads(line)
    assert len(record["what"]["targets"]) == 100
    assert record["what"]["targets_count"] == 3000
    assert len(line) < 4096


def test_the_default_audit_log_is_beside_the_state_file(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        daemon.call("POST", "/start", {"targets": ["web"]})
        default = Path(daemon.socket).parent / "corral.audit"
        assert _what(_records(default)) == [("POST", "/v1/start")]


def test_a_symlink_at_the_audit_path_stops_the_daemon_and_its_target_is_untouched(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    audit, keys = _keys(tmp_path)
    audit.parent.mkdir()
    audit.symlink_to(victim)
    daemon = Daemon(tmp_path, PROGRAMS, keys)
    result = corral.run(daemon_argv(daemon.config), check=False, timeout=DEADLINE)
    assert result.exit_code == 1
    assert result.stderr_text.strip() == (
        f"corral: cannot open the audit log {audit}: it is a symbolic link"
    )
    assert victim.read_text() == "root's file\n"


def test_an_audit_log_owned_by_another_user_stops_the_daemon(tmp_path: Path) -> None:
    audit, keys = _keys(tmp_path)
    audit.parent.mkdir()
    audit.write_text("")
    os.chown(audit, 65534, 65534)
    daemon = Daemon(tmp_path, PROGRAMS, keys)
    result = corral.run(daemon_argv(daemon.config), check=False, timeout=DEADLINE)
    assert result.exit_code == 1
    assert f"the audit log {audit} is owned by uid 65534" in result.stderr_text


def test_an_existing_readable_audit_log_is_appended_to_and_made_private(tmp_path: Path) -> None:
    audit, keys = _keys(tmp_path)
    audit.parent.mkdir()
    audit.write_text('{"earlier": true}\n')
    audit.chmod(0o644)
    with running_daemon(tmp_path, PROGRAMS, keys) as daemon:
        assert stat.S_IMODE(audit.stat().st_mode) == 0o600
        daemon.call("POST", "/start", {"targets": ["web"]})
    lines = audit.read_text().splitlines()
    assert lines[0] == '{"earlier": true}'
    assert json.loads(lines[1])["what"]["path"] == "/v1/start"


def _cli(*args: str) -> corral.Result:
    return corral.run([PYTHON, "-m", "corral", *args], check=False, timeout=DEADLINE)


def test_corral_audit_shows_the_last_records_from_the_configs_audit_log(tmp_path: Path) -> None:
    _audit, keys = _keys(tmp_path)
    with running_daemon(tmp_path, PROGRAMS, keys) as daemon:
        daemon.call("POST", "/start", {"targets": ["web"]})
        daemon.call("POST", "/signal", {"signal": "TERM", "targets": ["web:0"]})
        with pytest.raises(ApiError):
            daemon.call("POST", "/stop", {"targets": ["nosuch"]})
        config = str(daemon.config)
        last_two = _cli("audit", "-c", config, "-n", "2")
        as_json = _cli("audit", "-c", config, "--json", "-n", "0")
    assert last_two.exit_code == 0, last_two.stderr_text
    signal, stop = last_two.stdout_text.splitlines()
    me = f"uid={os.getuid()} pid={os.getpid()}"
    assert signal.split(" ", 1)[1] == (
        f"{me} POST /v1/signal signal=TERM targets=web:0 -> 200 ok=web:0"
    )
    assert stop.split(" ", 1)[1].startswith(
        f'{me} POST /v1/stop targets=nosuch -> 404 "no program or instance named'
    )
    assert [json.loads(line)["what"]["path"] for line in as_json.stdout_text.splitlines()] == [
        "/v1/start",
        "/v1/signal",
        "/v1/stop",
    ]


def test_corral_audit_reads_a_named_file_and_says_when_it_cannot(tmp_path: Path) -> None:
    audit = tmp_path / "a.audit"
    audit.write_text('{"time": "T", "who": {"transport": "tcp", "address": "1.2.3.4:5"}, '
                     '"what": {"method": "POST", "path": "/v1/reload"}, "result": {"status": 401}}'
                     "\n{cut by a cra\n")  # fmt: skip
    shown = _cli("audit", "--file", str(audit))
    missing = _cli("audit", "--file", str(tmp_path / "absent"))
    neither = _cli("audit")
    assert shown.stdout_text.splitlines() == [
        "T token=- 1.2.3.4:5 POST /v1/reload -> 401",
        "?? {cut by a cra",
    ]
    assert missing.exit_code == 1
    assert missing.stderr_text.strip() == (
        f"corral: cannot read the audit log {tmp_path / 'absent'}: No such file or directory"
    )
    assert neither.exit_code == 2
    assert neither.stderr_text.strip() == "corral: corral audit needs -c CONFIG or --file PATH"


def test_a_flood_of_refusals_is_recorded_at_a_bounded_rate_and_counted(tmp_path: Path) -> None:
    audit, keys = _keys(tmp_path)
    with running_daemon(tmp_path, PROGRAMS, keys + token_keys(tmp_path)) as daemon:
        port = tcp_port(daemon)
        started = time.monotonic()
        sent = 0
        for _ in range(200):  # bounded: 200 connections, each refused at once
            assert _post(port, "/v1/stop", "Bearer wrong-token-0123456789") == 401
            sent += 1
        flood_seconds = time.monotonic() - started

        def refusals() -> list[dict[str, Any]]:
            return [r for r in _records(audit) if r["result"]["status"] == 401]

        during_flood = len(refusals())

        def flushed() -> list[dict[str, Any]]:
            """One more refusal; its record, once one is allowed, counts what went before."""
            nonlocal sent
            before = len(refusals())
            assert _post(port, "/v1/stop", None) == 401
            sent += 1
            rows = refusals()
            return rows if len(rows) > before else []

        recorded = wait_until(flushed, what="a refusal recorded after the flood")
    assert "unrecorded" in recorded[-1]["result"]
    assert during_flood <= REFUSAL_BURST + flood_seconds * REFUSALS_PER_SECOND + 1
    assert len(recorded) + sum(r["result"].get("unrecorded", 0) for r in recorded) == sent


def test_usr1_after_logrotate_moved_it_reopens_the_audit_log_at_its_path(tmp_path: Path) -> None:
    # logrotate's create mode: move the file away, then signal the daemon to reopen.
    audit, keys = _keys(tmp_path)
    with running_daemon(tmp_path, PROGRAMS, keys) as daemon:
        daemon.call("POST", "/start", {"targets": ["web"]})
        rotated = audit.with_name("corral.audit.1")
        audit.rename(rotated)
        assert daemon.process is not None
        with daemon.watch() as events:
            os.kill(daemon.process.pid, signal.SIGUSR1)
            events.wait_for(
                lambda e: (
                    e["kind"] == "daemon"
                    and str(e["data"].get("message", "")).startswith("SIGUSR1: reopened")
                ),
                what="the reopen",
            )
        daemon.call("POST", "/stop", {"targets": ["web"]})
        assert stat.S_IMODE(audit.stat().st_mode) == 0o600
    assert _what(_records(rotated)) == [("POST", "/v1/start")]
    assert _what(_records(audit))[0] == ("POST", "/v1/stop")


def test_a_scale_is_recorded_with_its_program_and_count(tmp_path: Path) -> None:
    audit, keys = _keys(tmp_path)
    with running_daemon(tmp_path, PROGRAMS, keys) as daemon:
        daemon.call("POST", "/scale", {"program": "web", "count": 2})
        with pytest.raises(ApiError):
            daemon.call("POST", "/scale", {"program": "web:0", "count": 3})
    done, refused = _records(audit)[:2]
    assert done["what"] == {"method": "POST", "path": "/v1/scale", "program": "web", "count": 2}
    assert done["result"]["status"] == 200
    assert (refused["what"]["program"], refused["result"]["status"]) == ("web:0", 400)
