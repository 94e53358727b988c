"""The web dashboard end to end: a real daemon, a real headless Chromium, the real page."""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path
from typing import Any

from tests.control.remote import TOKENS
from tests.control.web.conftest import log_in
from tests.support.daemon import Daemon
from tests.support.waiting import DEADLINE, wait_until

ROW = 'tr[data-name="{}"]'


def _row_state(page: Any, name: str, *states: str) -> None:
    """Wait until the page shows `name` in one of `states` (no reload: the page's own)."""
    page.wait_for_function(
        '([name, states]) => { const row = document.querySelector(`tr[data-name="${name}"]`);'
        " return row !== null && states.includes(row.dataset.state); }",
        arg=[name, list(states)],
        timeout=DEADLINE * 1000,
    )


def test_logging_in_with_the_token_sets_a_strict_http_only_cookie(
    context: Any, base_url: str
) -> None:
    log_in(context, base_url)
    (cookie,) = context.cookies()
    assert cookie["name"] == "corral_session"
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (True, "Strict", False)
    assert len(cookie["value"]) == 64


def test_a_wrong_token_is_refused_at_the_login(context: Any, base_url: str) -> None:
    page = context.new_page()
    page.goto(base_url + "/login")
    page.fill("#token", "not-the-token-0123456789")
    page.click("#login-submit")
    page.wait_for_function("document.getElementById('login-error').textContent !== ''")
    assert page.text_content("#login-error") == "wrong token"
    assert context.cookies() == []


def test_the_page_lists_every_instance_and_the_daemon(page: Any, web_daemon: Daemon) -> None:
    status = web_daemon.call("GET", "/status")
    names = [row["name"] for row in status["instances"]]
    _row_state(page, "sleeper:1", "RUNNING")
    shown = page.eval_on_selector_all(
        "#instances tbody tr", "rows => rows.map(r => r.dataset.name)"
    )
    assert shown == names
    assert page.text_content("#d-version") == status["daemon"]["version"]
    assert page.text_content("#d-config") == str(web_daemon.config)
    assert page.text_content("#who") == "as ops (web-" + page.text_content("#who").split("web-")[1]
    running = page.text_content('.count[data-state="RUNNING"]')
    assert running is not None and running.startswith("RUNNING ")
