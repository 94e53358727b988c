"""Alert rules in a real daemon: restart_on memory, a webhook to a real HTTP server on
127.0.0.1 (and one that refuses), a log pattern, and a bad rule at file:line:key.

Every wait is on an event the daemon emits (`alert.firing`, `alert.action`, ...), with
the usual deadline; `Daemon.stop` then proves the loop never blocked.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import corral
from tests.support.daemon import Daemon, running_daemon
from tests.support.events import Event
from tests.support.imports import imported_modules
from tests.support.waiting import wait_until

_HOLD = "import time; x = 'x' * (64 << 20); print(1, flush=True); time.sleep(300)"
HOLD_64M = json.dumps([sys.executable, "-c", _HOLD])
"""A program that holds 64 MiB (written, so resident) until stopped."""


def alert_event(kind: str, alert: str) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        return bool(event["kind"] == kind and event["data"].get("alert") == alert)

    return match


def test_restart_on_memory_restarts_the_instance_until_its_start_limit_refuses(
    tmp_path: Path,
) -> None:
    programs = f"""
        [metrics]
        interval = 0.1

        [programs.hog]
        command = {HOLD_64M}
        start_seconds = 0
        restart_on = {{ memory = "32M" }}
        start_limit = {{ burst = 2, interval = 60 }}
    """
    with running_daemon(tmp_path, programs) as daemon, daemon.watch(since=0) as events:
        first = events.wait_for(alert_event("alert.firing", "hog.restart_on.memory"), what="firing")
        assert first["subject"] == "hog:0"
        assert first["data"]["value"] > 32 << 20
        for _ in range(2):
            done = events.wait_for(
                lambda e: e["kind"] == "alert.action" and e["data"]["ok"], what="a restart"
            )
            assert done["data"]["action"] == "restart"
        refused = events.wait_for(
            lambda e: e["kind"] == "alert.action" and not e["data"]["ok"], what="a refusal"
        )
        assert "reach its start_limit (burst 2)" in refused["data"]["message"]
        assert daemon.state("hog:0") == "RUNNING"  # refused: left as it is, reported
        reply = daemon.call("GET", "/alerts")
        assert reply["actions"]["restarts"] == 2
        assert reply["actions"]["restarts_refused"] >= 1
        assert [a["alert"] for a in reply["firing"]] == ["hog.restart_on.memory"]


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def hook_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on 127.0.0.1 in a thread, keeping each JSON body it is sent."""
    received: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_webhook_is_posted_and_one_that_refuses_is_retried_and_counted(tmp_path: Path) -> None:
    with hook_server() as (url, received):
        programs = f"""
            [programs.web]
            command = ["sleep", "300"]
            start_seconds = 0

            [alerts.up]
            program = "web"
            condition = "state == RUNNING"
            webhook = "{url}"

            [alerts.nobody]
            condition = "state == RUNNING"
            webhook = "http://127.0.0.1:{closed_port()}/hook"
        """
        with running_daemon(tmp_path, programs) as daemon, daemon.watch(since=0) as events:
            events.wait_for(
                lambda e: e["kind"] == "alert.action" and e["data"].get("action") == "webhook",
                what="the refused webhook given up",
            )
            reply = daemon.call("GET", "/alerts")
            assert reply["actions"]["webhooks_failed"] == 1
            assert reply["actions"]["webhooks_retried"] == 2
            assert reply["actions"]["webhooks_delivered"] == 1
            assert {a["alert"] for a in reply["firing"]} == {"up", "nobody"}
    [payload] = received
    assert payload["alert"] == "up"
    assert payload["status"] == "firing"
    assert (payload["instance"], payload["program"]) == ("web:0", "web")
    assert (payload["condition"], payload["value"]) == ("state == RUNNING", "RUNNING")


def test_a_log_pattern_rule_fires_on_a_matching_line(tmp_path: Path) -> None:
    programs = """
        [metrics]
        interval = 0.1

        [alerts.fds]
        program = "app"
        condition = "fds > 2"

        [programs.app]
        command = ["sh", "-c", "echo starting; echo 'ERROR disk full' >&2; exec sleep 300"]

        [alerts.errors]
        program = "app"
        condition = "stderr ~ ^ERROR"
    """
    with running_daemon(tmp_path, programs) as daemon, daemon.watch(since=0) as events:
        fired = events.wait_for(alert_event("alert.firing", "errors"), what="the log rule")
        assert (fired["subject"], fired["data"]["value"]) == ("app:0", "ERROR disk full")
        counted = events.wait_for(alert_event("alert.firing", "fds"), what="the fds rule")
        assert counted["data"]["value"] >= 3  # stdin, stdout and stderr at least
        assert daemon.status()["app:0"]["sample"]["fds"] >= 3
        result = daemon.cli("alerts")
        assert result.exit_code == 0
        assert "errors" in result.stdout_text
        assert "ERROR disk full" in result.stdout_text


def test_a_bad_rule_is_a_config_error_with_file_line_and_key(tmp_path: Path) -> None:
    daemon = Daemon(
        tmp_path, '[programs.web]\ncommand = ["true"]\n[alerts.x]\ncondition = "disk > 9"\n'
    )
    line = daemon.config.read_text().splitlines().index('condition = "disk > 9"') + 1
    argv = [sys.executable, "-m", "corral", "daemon", "-c", str(daemon.config)]
    result = corral.run(argv, check=False, timeout=60)
    assert result.exit_code == 2
    expected = f"{daemon.config}:{line}: alerts.x.condition: expected a condition string"
    assert expected in result.stderr_text
    assert "unknown metric 'disk'" in result.stderr_text


def test_an_exit_rule_runs_its_command_with_the_alerts_facts(tmp_path: Path) -> None:
    out = tmp_path / "alert.env"
    programs = f"""
        [programs.crash]
        command = ["sh", "-c", "kill -9 $$"]
        restart = "never"

        [alerts.killed]
        program = "crash"
        condition = "exit == SIGKILL"
        command = ["sh", "-c", "env | grep ^CORRAL_ALERT_ | sort > {out}.tmp && mv {out}.tmp {out}"]
    """
    with running_daemon(tmp_path, programs) as daemon, daemon.watch(since=0) as events:
        fired = events.wait_for(alert_event("alert.firing", "killed"), what="the exit rule")
        assert fired["data"]["value"] == "SIGKILL"
        text = wait_until(lambda: out.read_text() if out.exists() else "", what="its output")
        facts = dict(line.partition("=")[::2] for line in text.splitlines())
        assert facts["CORRAL_ALERT_ALERT"] == "killed"
        assert facts["CORRAL_ALERT_STATUS"] == "firing"
        assert facts["CORRAL_ALERT_INSTANCE"] == "crash:0"
        assert facts["CORRAL_ALERT_CONDITION"] == "exit == SIGKILL"
        assert daemon.call("GET", "/alerts")["actions"]["commands_run"] == 1


def test_a_reload_brings_new_rules_and_a_bad_one_is_refused_with_its_line(tmp_path: Path) -> None:
    base = """
        [programs.web]
        command = ["sleep", "300"]
    """
    with running_daemon(tmp_path, base) as daemon:
        daemon.wait_state("web:0", "RUNNING")
        assert daemon.call("GET", "/alerts")["rules"] == 0
        daemon.write_config(base + '\n[alerts.up]\ncondition = "state == RUNNING"\n')
        with daemon.watch() as events:
            daemon.call("POST", "/reload")
            events.wait_for(alert_event("alert.firing", "up"), what="the new rule")
        daemon.write_config(base + '\n[alerts.up]\ncondition = "state == RUNING"\n')
        result = daemon.cli("reload")
        assert result.exit_code != 0
        assert "alerts.up.condition: expected state == one of" in result.stderr_text
        assert "did you mean RUNNING?" in result.stderr_text
        assert daemon.state("web:0") == "RUNNING"  # the daemon kept its program and rules
        assert [a["alert"] for a in daemon.call("GET", "/alerts")["firing"]] == ["up"]
        with daemon.watch() as events:
            daemon.call("POST", "/scale", {"program": "web", "count": 2})
            events.wait_for(alert_event("alert.firing", "up"), what="web:1's alert")
            daemon.call("POST", "/scale", {"program": "web", "count": 1})
            gone = events.wait_for(alert_event("alert.resolved", "up"), what="web:1's end")
        assert gone["subject"] == "web:1"
        assert [a["instance"] for a in daemon.call("GET", "/alerts")["firing"]] == ["web:0"]


def test_an_http_webhook_delivers_without_the_daemon_loading_ssl(tmp_path: Path) -> None:
    with hook_server() as (url, received):
        programs = f"""
            [programs.web]
            command = ["sleep", "300"]

            [alerts.up]
            condition = "state == RUNNING"
            webhook = "{url}"
        """
        daemon = Daemon(tmp_path, programs)
        daemon.start(argv=[sys.executable, "-X", "importtime", "-m", "corral", "daemon",
                           "-c", str(daemon.config)])  # fmt: skip
        try:
            wait_until(lambda: received, what="the webhook delivered")
            imported = imported_modules(daemon.output.read_text(errors="replace"))
        finally:
            daemon.stop()
    assert "corral._observe.alerts.webhook" in imported  # the report is there
    assert "_ssl" not in imported  # OpenSSL's module: `ssl` itself is blocked (ssl_gate)


def test_health_restarts_and_log_rules_drive_their_actions(tmp_path: Path) -> None:
    programs = """
        [programs.sick]
        command = ["sleep", "300"]
        start_seconds = 0
        health = { exec = ["false"], interval = 0.1, retries = 1 }
        on_unhealthy = "none"

        [programs.flaky]
        command = ["sh", "-c", "exit 1"]
        start_seconds = 0
        backoff = { initial = 0.05, max = 0.05, jitter = 0 }
        start_limit = { burst = 100, interval = 60 }

        [programs.quitter]
        command = ["sh", "-c", "echo 'please stop me'; exec sleep 300"]

        [alerts.sick]
        program = "sick"
        condition = "health == unhealthy"

        [alerts.flapping]
        program = "flaky"
        condition = "restarts > 2 in 60s"

        [alerts.asked]
        program = "quitter"
        condition = "stdout ~ please stop"
        actions = ["stop"]
    """
    with running_daemon(tmp_path, programs) as daemon, daemon.watch(since=0) as events:
        sick = events.wait_for(alert_event("alert.firing", "sick"), what="the health rule")
        assert (sick["subject"], sick["data"]["value"]) == ("sick:0", "unhealthy")
        flapping = events.wait_for(alert_event("alert.firing", "flapping"), what="restarts")
        assert flapping["subject"] == "flaky:0"
        assert flapping["data"]["value"] == 3
        stopped = events.wait_for(
            lambda e: e["kind"] == "alert.action" and e["data"].get("alert") == "asked",
            what="the stop action",
        )
        assert (stopped["data"]["action"], stopped["data"]["ok"]) == ("stop", True)
        assert daemon.state("quitter:0") == "STOPPED"


def test_the_signal_action_reaches_the_instance(tmp_path: Path) -> None:
    programs = """
        [programs.trap]
        command = ["sh", "-c", "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done"]

        [alerts.poke]
        program = "trap"
        condition = "stdout ~ ^ready"
        actions = ["signal"]
        signal = "USR1"

        [alerts.poked]
        program = "trap"
        condition = "stdout ~ got-usr1"
    """
    with running_daemon(tmp_path, programs) as daemon, daemon.watch(since=0) as events:
        sent = events.wait_for(
            lambda e: e["kind"] == "alert.action" and e["data"].get("alert") == "poke",
            what="the signal sent",
        )
        assert (sent["data"]["ok"], sent["data"]["message"]) == (True, "sent SIGUSR1")
        events.wait_for(alert_event("alert.firing", "poked"), what="the trap's line")
        daemon.wait_state("trap:0", "RUNNING")  # the signal did not end it
