"""The web dashboard end to end: a real daemon, a real headless Chromium, the real page."""

from __future__ import annotations

import http.client
import json
import re
import ssl
from pathlib import Path
from typing import Any, cast

from corral._control.client import Client
from corral._control.server.web import PAGE_FILE
from tests.control.remote import TOKENS, self_signed, tcp_port, token_keys
from tests.control.web.conftest import HTML, audit_records, log_in
from tests.support.daemon import Daemon, running_daemon
from tests.support.waiting import DEADLINE

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
    assert re.fullmatch(r"as ops \(web-\d+\)", page.text_content("#who") or "")
    running = sum(row["state"] == "RUNNING" for row in status["instances"])
    assert page.text_content('.count[data-state="RUNNING"]') == f"RUNNING {running}"


def test_a_crash_appears_live_from_the_event_stream(page: Any, web_daemon: Daemon) -> None:
    _row_state(page, "crasher:0", "STOPPED", "EXITED")
    seen = page.evaluate("window.corral.events")
    web_daemon.call("POST", "/start", {"targets": ["crasher:0"]})
    _row_state(page, "crasher:0", "EXITED", "FATAL", "BACKOFF")
    assert page.evaluate("window.corral.events") > seen  # told by the stream, not a poll
    last = page.evaluate("window.corral.lastEvent")
    assert last["subject"] == "crasher:0"
    page.wait_for_function(
        "document.querySelector('tr[data-name=\"crasher:0\"] td:nth-child(7)')"
        ".textContent.includes('exit 3')"
    )


def test_restart_from_the_page_asks_first_and_the_audit_log_names_the_session(
    page: Any, web_daemon: Daemon
) -> None:
    before = web_daemon.status()["sleeper:0"]["pid"]
    _row_state(page, "sleeper:0", "RUNNING")
    page.click(f'{ROW.format("sleeper:0")} button[data-action="restart"]')
    assert page.is_visible("#confirm")
    assert page.text_content("#confirm-text") == "restart sleeper:0?"
    page.click("#confirm-ok")
    page.wait_for_function(
        "old => { const row = document.querySelector('tr[data-name=\"sleeper:0\"]');"
        " const pid = row.children[3].textContent;"
        " return row.dataset.state === 'RUNNING' && pid !== '-' && pid !== String(old); }",
        arg=before,
        timeout=DEADLINE * 1000,
    )
    after = web_daemon.status()["sleeper:0"]["pid"]
    assert after != before
    assert page.text_content(f"{ROW.format('sleeper:0')} td:nth-child(4)") == str(after)
    who = page.text_content("#who")
    session = who.split("(")[1].rstrip(")")
    (record,) = [r for r in audit_records(web_daemon) if r["what"]["path"] == "/v1/restart"]
    assert record["who"]["token"] == "ops"
    assert record["who"]["session"] == session
    assert record["what"]["targets"] == ["sleeper:0"]
    assert record["result"] == {"status": 200, "ok": ["sleeper:0"], "failed": []}


def test_cancelling_the_confirmation_does_nothing(page: Any, web_daemon: Daemon) -> None:
    before = web_daemon.status()["sleeper:1"]["pid"]
    page.click(f'{ROW.format("sleeper:1")} button[data-action="stop"]')
    page.click("#confirm-cancel")
    assert not page.is_visible("#confirm")
    stops = [r for r in audit_records(web_daemon) if r["what"]["path"] == "/v1/stop"]
    assert stops == []
    assert web_daemon.status()["sleeper:1"]["pid"] == before


def test_following_a_log_shows_a_new_line(page: Any, web_daemon: Daemon) -> None:
    _row_state(page, "echoer:0", "RUNNING")
    page.click(f'{ROW.format("echoer:0")} button[data-action="logs"]')
    page.wait_for_function(
        "document.getElementById('log-lines').textContent.includes('echoer ready')"
    )
    page.wait_for_function("(window.corral.following || '').includes('/v1/logs/echoer%3A0/follow')")
    # The reply's head is out before the daemon takes its follower: a line written in
    # between goes only to the file, so the signal is sent again until one is shown.
    for _ in range(20):
        web_daemon.call("POST", "/signal", {"signal": "HUP", "targets": ["echoer:0"]})
        try:
            page.wait_for_function(
                "document.getElementById('log-lines').textContent.includes('hangup number')",
                timeout=500,
            )
            return
        except Exception:  # playwright's TimeoutError: not shown yet
            continue
    raise AssertionError("no line written after the page began following was shown")


def test_what_a_program_prints_is_text_and_its_colours_are_spans(
    page: Any, web_daemon: Daemon
) -> None:
    dialogs: list[str] = []

    def opened(dialog: Any) -> None:  # alert() would open one
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", opened)
    _row_state(page, "printer:0", "RUNNING")
    page.click(f'{ROW.format("printer:0")} button[data-action="logs"]')
    page.wait_for_function("document.getElementById('log-lines').textContent.includes('plain')")
    text = page.text_content("#log-lines")
    assert HTML in text
    assert "\x1b" not in text
    assert (
        page.eval_on_selector_all("#log-lines script, #log-lines img", "found => found.length") == 0
    )
    assert page.eval_on_selector("#log-lines .ansi-1", "span => span.textContent") == "red"
    bold = page.eval_on_selector("#log-lines .ansi-10.ansi-b", "span => span.textContent")
    assert bold == "bold green"
    assert page.evaluate("window.pwned") is None
    assert dialogs == []


def test_search_shows_only_the_matching_lines_of_the_tail(page: Any) -> None:
    page.click(f'{ROW.format("printer:0")} button[data-action="logs"]')
    page.wait_for_function("document.getElementById('log-lines').textContent.includes('plain')")
    page.fill("#log-search", "BOLD GREEN")
    shown = page.eval_on_selector_all(
        "#log-lines .line:not(.hidden)", "l => l.map(x => x.textContent)"
    )
    assert len(shown) == 1
    assert shown[0].endswith("red plain bold green")
    assert page.text_content("#log-count") == f"1 of {_lines(page)} lines match"


def _lines(page: Any) -> int:
    return int(page.eval_on_selector_all("#log-lines .line", "lines => lines.length"))


def _request(
    base_url: str, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    port = int(base_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
    try:
        connection.request(method, path, body=body or None, headers=headers)
        reply = connection.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        connection.close()


def test_requests_without_a_cookie_or_token_are_refused(base_url: str) -> None:
    status, headers, _ = _request(base_url, "GET", "/", {})
    assert (status, headers["location"]) == (303, "/login")
    for method, path in [("GET", "/v1/status"), ("GET", "/v1/events?follow=1"),
                         ("POST", "/v1/stop"), ("GET", "/web/session")]:  # fmt: skip
        status, _, body = _request(base_url, method, path, {})
        assert status == 401, (method, path)
        assert b"missing or wrong token" in body
    stale = {"cookie": "corral_session=" + "0" * 64}
    assert _request(base_url, "GET", "/v1/status", stale)[0] == 401


def test_a_cross_site_post_is_refused(context: Any, base_url: str, web_daemon: Daemon) -> None:
    log_in(context, base_url)
    (cookie,) = context.cookies()
    jar = {"cookie": f"{cookie['name']}={cookie['value']}", "content-type": "application/json"}
    body = json.dumps({"targets": ["sleeper:1"]}).encode()
    before = web_daemon.status()["sleeper:1"]["pid"]
    for extra in [
        {"origin": "http://evil.example"},  # another site, no CSRF token
        {"origin": base_url},  # the right origin, but no CSRF token
        {"origin": base_url, "x-corral-csrf": "0" * 64},  # a wrong one
        {"referer": "http://evil.example/page", "x-corral-csrf": "0" * 64},
    ]:
        status, _, reply = _request(base_url, "POST", "/v1/stop", jar | extra, body)
        assert status == 403, extra
        assert b"cross-site request refused" in reply
    assert web_daemon.status()["sleeper:1"]["pid"] == before
    assert _request(base_url, "GET", "/v1/status", jar)[0] == 200  # reading is the session's


def test_a_page_of_another_site_cannot_post_with_the_session(
    context: Any, base_url: str, web_daemon: Daemon
) -> None:
    log_in(context, base_url)
    before = web_daemon.status()["sleeper:1"]["pid"]
    evil = context.new_page()
    form = (
        f'<form method="post" action="{base_url}/v1/stop" enctype="text/plain">'
        '<input name=\'{"targets":["sleeper:1"],"x":"\' value=\'"}\'></form>'
        "<script>document.forms[0].submit()</script>"
    )
    evil.route(
        "http://evil.test/", lambda route: route.fulfill(body=form, content_type="text/html")
    )
    with evil.expect_navigation(url=re.compile(re.escape(base_url))):
        evil.goto("http://evil.test/")
    assert "missing or wrong token" in evil.content()  # SameSite=Strict: no cookie went
    assert web_daemon.status()["sleeper:1"]["pid"] == before


def test_the_page_weighs_at_most_150_kb_and_loads_nothing_from_elsewhere(base_url: str) -> None:
    status, headers, body = _request(base_url, "GET", "/login", {})
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert len(body) == PAGE_FILE.stat().st_size <= 150 * 1024
    assert re.findall(rb"(?:src|href)=[\"']?(?:https?:)?//", body) == []
    assert "script-src 'sha256-" in headers["content-security-policy"]


def test_a_bearer_token_still_works_on_the_dashboards_listener(
    base_url: str, web_daemon: Daemon
) -> None:
    port = int(base_url.rsplit(":", 1)[1])
    with Client(tcp=("127.0.0.1", port), token=TOKENS["ci"]) as client:
        rows = cast(dict[str, Any], client.request("GET", "/v1/status"))["instances"]
    assert [row["name"] for row in rows] == list(web_daemon.status())
    wrong = {"authorization": "Bearer wrong-token-0123456789", "cookie": "corral_session=x"}
    assert _request(base_url, "GET", "/v1/status", wrong)[0] == 401  # the header alone decides


def test_over_tls_the_cookie_is_secure(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    keys = f"tls_cert_file = '{cert}'\ntls_key_file = '{key}'\n" + token_keys(tmp_path)
    with running_daemon(tmp_path, "[web]\nenabled = true\n", keys) as daemon:
        port = tcp_port(daemon, "https")
        tls = ssl.create_default_context(cafile=str(cert))
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=DEADLINE, context=tls)
        try:
            body = json.dumps({"token": TOKENS["ops"]})
            connection.request("POST", "/login", body, {"content-type": "application/json"})
            reply = connection.getresponse()
            reply.read()
        finally:
            connection.close()
    assert reply.status == 200
    cookie = reply.getheader("set-cookie") or ""
    assert cookie.startswith("corral_session=")
    assert cookie.endswith("; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict; Secure")


def test_scale_from_the_page_asks_for_the_count_and_the_new_row_appears(
    page: Any, web_daemon: Daemon
) -> None:
    page.click(f'{ROW.format("sleeper:0")} button[data-action="scale"]')
    assert page.text_content("#confirm-text") == "Run how many instances of sleeper?"
    assert page.input_value("#confirm-input") == "2"
    page.fill("#confirm-input", "3")
    page.click("#confirm-ok")
    try:
        _row_state(page, "sleeper:2", "RUNNING")
        scales = [r for r in audit_records(web_daemon) if r["what"]["path"] == "/v1/scale"]
        assert (scales[-1]["what"]["program"], scales[-1]["what"]["count"]) == ("sleeper", 3)
        assert scales[-1]["who"]["session"] is not None
    finally:
        web_daemon.call("POST", "/scale", {"program": "sleeper", "count": 2})
    page.wait_for_selector(ROW.format("sleeper:2"), state="detached")


def test_logging_out_ends_the_session(page: Any, context: Any, base_url: str) -> None:
    (cookie,) = context.cookies()
    jar = {"cookie": f"{cookie['name']}={cookie['value']}"}
    assert _request(base_url, "GET", "/v1/status", jar)[0] == 200
    page.click("#logout")
    page.wait_for_url(base_url + "/login")
    assert context.cookies() == []
    assert _request(base_url, "GET", "/v1/status", jar)[0] == 401


def test_a_login_body_that_is_not_a_token_is_a_400(base_url: str) -> None:
    for body in [b"", b"token=abc", b'{"token": 5}', b"[1]", '{"token": "é"}'.encode()]:
        status, _, reply = _request(base_url, "POST", "/login", {"content-type": "x"}, body)
        assert status == 400, body
        assert b'the login body must be JSON {\\"token\\": \\"...\\"}' in reply
    too_big = b'{"token": "' + b"a" * (300 << 10) + b'"}'
    assert _request(base_url, "POST", "/login", {}, too_big)[0] == 413


def test_a_login_from_another_site_is_refused(context: Any, base_url: str) -> None:
    body = json.dumps({"token": TOKENS["ops"]}).encode()
    evil = {"origin": "http://evil.example", "content-type": "application/json"}
    status, headers, reply = _request(base_url, "POST", "/login", evil, body)
    assert (status, "set-cookie" in headers) == (403, False)
    assert b"cross-site login refused" in reply
    assert _request(base_url, "POST", "/login", evil | {"origin": base_url}, body)[0] == 200


def test_the_openapi_document_is_the_apis_without_the_dashboards_pages(
    context: Any, base_url: str
) -> None:
    page = log_in(context, base_url)
    reply = page.request.get(base_url + "/v1/openapi.json")
    assert reply.status == 200
    paths = reply.json()["paths"]
    assert "/v1/restart" in paths
    assert [path for path in paths if not path.startswith(("/v1/", "/metrics"))] == []
