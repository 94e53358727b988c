"""One real daemon with the dashboard on, and one real headless Chromium, for every test.

The browser is Debian's `chromium` (installed by scripts/_setup.sh), driven by
Playwright for Python given its path: nothing is downloaded. Both start once per session;
each test gets a fresh browser context (its own cookies) logged in with a token.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.control.remote import TOKENS, tcp_port, token_keys
from tests.support.daemon import PYTHON, SLEEP_FOREVER, Daemon
from tests.support.pids import children_of, is_zombie
from tests.support.waiting import wait_until

CHROMIUM = "/usr/bin/chromium"
HTML = "<script>alert(1)</script><img src=x onerror=window.pwned=1>"
COLOURS = "\\x1b[31mred\\x1b[0m plain \\x1b[1;92mbold green\\x1b[0m"

_PRINTER = f"""
import sys, time
print({HTML!r}, flush=True)
print("{COLOURS}", flush=True)
time.sleep(300)
"""
_ECHOER = """
import signal, sys, time
count = 0
def said(number, frame):
    global count
    count += 1
    print(f"hangup number {count}", flush=True)
signal.signal(signal.SIGHUP, said)
print("echoer ready", flush=True)
for _ in range(3000):
    time.sleep(0.1)
"""


def _toml_array(*argv: str) -> str:
    return json.dumps(list(argv))  # a JSON array of strings is a TOML array


PROGRAMS = f"""
[web]
enabled = true

[programs.sleeper]
command = {SLEEP_FOREVER}
numprocs = 2
stop_timeout = 2

[programs.printer]
command = {_toml_array(PYTHON, "-c", _PRINTER)}
stop_timeout = 2

[programs.echoer]
command = {_toml_array(PYTHON, "-u", "-c", _ECHOER)}
stop_timeout = 2

[programs.crasher]
command = ["sh", "-c", "echo crashing >&2; exit 3"]
autostart = false
restart = "never"
"""


@pytest.fixture(scope="package")
def web_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon serving the dashboard on a loopback TCP port, with the tokens of remote.py."""
    workdir = tmp_path_factory.mktemp("web")
    keys = f"audit_log = '{workdir / 'audit' / 'corral.audit'}'\n" + token_keys(workdir)
    daemon = Daemon(workdir, PROGRAMS, keys)
    daemon.start()
    try:
        yield daemon
    finally:
        try:
            daemon.stop()
        finally:
            daemon.kill()


@pytest.fixture(scope="package")
def base_url(web_daemon: Daemon) -> str:
    return f"http://127.0.0.1:{tcp_port(web_daemon)}"


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """The one headless Chromium of the session, closed when this package's tests are
    done: Playwright's sync API keeps an asyncio loop running in the main thread while
    it is open, and every later test that calls asyncio.run() would find it there."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (scripts/_setup.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    before = {stat.pid for stat in children_of(os.getpid())}
    try:
        with sync_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        _reap_drivers(before)


def _reap_drivers(before: set[int]) -> None:
    """Reap Playwright's driver: it exits once its context ends, after the loop that
    would have reaped it is gone, and stays a zombie child of ours otherwise."""
    for stat in children_of(os.getpid()):
        if stat.pid in before:
            continue
        pid = stat.pid
        wait_until(functools.partial(is_zombie, pid), what=f"Playwright's driver {pid} to exit")
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile: no cookies.

    The page's Content-Security-Policy is bypassed, since Playwright's string predicates
    are eval'd in the page: what a program prints is then shown safely by the page's
    escaping alone (the policy is checked in the page-weight test)."""
    made = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    made.set_default_timeout(10_000)
    try:
        yield made
    finally:
        made.close()


def log_in(context: Any, base_url: str, token: str = TOKENS["ops"]) -> Any:
    """A page of `context` logged in with `token`, showing the dashboard."""
    page = context.new_page()
    page.goto(base_url + "/")
    page.wait_for_url(base_url + "/login")
    page.fill("#token", token)
    page.click("#login-submit")
    page.wait_for_url(base_url + "/")
    page.wait_for_selector("#instances tbody tr")
    return page


@pytest.fixture
def page(context: Any, base_url: str) -> Any:
    """A page logged in with the "ops" token, the dashboard rendered."""
    return log_in(context, base_url)


def audit_records(daemon: Daemon) -> list[dict[str, Any]]:
    """Every record of the daemon's audit log, oldest first."""
    path = daemon.workdir / "audit" / "corral.audit"
    return [json.loads(line) for line in path.read_text().splitlines()]
