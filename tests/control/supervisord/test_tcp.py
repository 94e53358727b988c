"""On the TCP listener /RPC2 needs a token: supervisorctl's basic auth carries it as the
password; without it, or with a wrong one, supervisorctl is refused."""

from __future__ import annotations

from pathlib import Path

from tests.control.remote import TOKENS, tcp_port, token_keys
from tests.control.supervisord.conftest import COMPAT, PROGRAMS, ctl
from tests.support.daemon import running_daemon


def test_supervisorctl_over_tcp_authenticates_with_a_token_as_password(tmp_path: Path) -> None:
    keys = "log_timestamps = false\n" + token_keys(tmp_path)
    with running_daemon(tmp_path, COMPAT + PROGRAMS, keys) as daemon:
        daemon.wait_state("one:0", "RUNNING")
        url = f"http://127.0.0.1:{tcp_port(daemon)}"
        allowed = ctl(url, "status", "one:0", auth=("anyone", TOKENS["ops"]))
        assert allowed.exit_code == 0
        assert allowed.stdout_text.startswith("one:0 ")
        wrong = ctl(url, "status", "one:0", auth=("anyone", "not-the-token-at-all"))
        assert wrong.stdout_text.startswith("Server requires authentication\n")
        assert wrong.exit_code != 0
        none = ctl(url, "status")
        assert none.stdout_text.startswith("Server requires authentication\n")
        assert none.exit_code != 0
        assert daemon.state("one:0") == "RUNNING"
