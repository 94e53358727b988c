"""The web dashboard in a real browser: first render, lag behind an event, and its RSS.

Two daemons run the same programs (`--programs` of them, two instances each), one with
`[web] enabled = true` and one without; Debian's headless Chromium (driven by
Playwright, `executable_path=/usr/bin/chromium`, nothing downloaded) logs in to the first
once. Then, interleaved per round:

- `first render`: the page is loaded again; the figure is the Performance API's
  `corral-first-render` mark (set once the first status is in the table), in ms since
  the navigation began: the HTML, the script, `/web/session` and `/v1/status` included.
  Shown with it, for information: the same load's DOMContentLoaded and the end of its
  `/v1/status` reply, and the time of `GET /v1/status` on the unix socket from Python
  just before (what the daemon's answer costs, without the browser).
- `event lag`: an instance is restarted through the unix socket; the figure is, for its
  `RUNNING` state event, the wall-clock time the page had updated the row minus the
  time the daemon emitted the event (both clocks are this machine's).

Last, `VmRSS` of both daemons is read (the dashboard's after a page has loaded, followed
the event stream and a log): the difference is what the dashboard adds. Targets: first
render p50 <= 200 ms and event lag p50 <= 1000 ms on loopback. The machine is shared, so
absolute figures are noisy; the two daemons are read in the same run.

    .venv/bin/python -m bench.web [--rounds 30] [--programs 10] [--screenshot FILE]

`--screenshot FILE` saves a PNG of the dashboard (the README's docs/images/dashboard.png).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from bench.machine import machine
from corral._control.client import Client

CHROMIUM = "/usr/bin/chromium"
TOKEN = "bench-web-token-0123456789abcdef"
DEADLINE = 30.0
FIRST_RENDER_TARGET_MS = 200.0
EVENT_LAG_TARGET_MS = 1000.0
_COLOURFUL = (
    "import time\n"
    "for n in range(5):\n"
    "    print(f'\\x1b[32mGET\\x1b[0m /api/items/{n} \\x1b[1m200\\x1b[0m 3ms', flush=True)\n"
    "print('\\x1b[33mwarning\\x1b[0m: cache is cold', flush=True)\n"
    "print('\\x1b[31merror\\x1b[0m: <upstream> timed out', flush=True)\n"
    "time.sleep(600)\n"
)


def _config(workdir: Path, programs: int, *, web: bool) -> Path:
    token = workdir / "api.token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    lines = [
        "[daemon]",
        f"socket = '{workdir / 'api.sock'}'",
        f"log_dir = '{workdir / 'logs'}'",
        f"audit_log = '{workdir / 'audit.log'}'",
        "http_listen = '127.0.0.1:0'",
        f"http_token_file = '{token}'",
        "[metrics]",
        "interval = 1",
        "[web]",
        f"enabled = {'true' if web else 'false'}",
        "[programs.api]",
        f"command = {json.dumps([sys.executable, '-u', '-c', _COLOURFUL])}",
        "numprocs = 2",
        "sandbox = { rlimits = { nofile = 1024, core = 0 } }",
        "[programs.api.health]",
        "exec = ['true']",
        "interval = 1",
        "[programs.crasher]",
        "command = ['sh', '-c', 'echo \"connection refused\" >&2; exit 3']",
        "restart = 'never'",
    ]
    for index in range(programs):
        lines += [f"[programs.worker{index}]", "command = ['sleep', '600']", "numprocs = 2"]
    config = workdir / "corral.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


class _Daemon:
    """`corral daemon -c CONFIG` as a user runs it, until `stop()`."""

    def __init__(self, workdir: Path, programs: int, *, web: bool) -> None:
        self.socket = str(workdir / "api.sock")
        config = _config(workdir, programs, web=web)
        out = (workdir / "daemon.out").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "corral", "daemon", "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        deadline = time.monotonic() + DEADLINE
        while not self._answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"the daemon did not start: {workdir / 'daemon.out'}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            self.call("GET", "/v1/status")
        except Exception:
            return False
        return True

    def call(self, method: str, path: str, body: object | None = None) -> Any:
        with Client(self.socket, timeout=DEADLINE) as client:
            return client.request(method, path, body=body)

    def url(self) -> str:
        messages = [e["data"].get("message", "") for e in self.call("GET", "/v1/events")["events"]]
        prefix = "listening on http://"
        found = str(next(m for m in messages if m.startswith(prefix)))
        return "http://" + found.removeprefix(prefix)

    def rss_kib(self) -> int:
        pid = self.call("GET", "/v1/status")["daemon"]["pid"]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise SystemExit("no VmRSS")

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.call("POST", "/v1/shutdown")
            except Exception:
                self.process.terminate()
        self.process.wait(timeout=DEADLINE * 2)


def _log_in(page: Any, url: str) -> None:
    page.goto(url + "/login")
    page.fill("#token", TOKEN)
    page.click("#login-submit")
    page.wait_for_url(url + "/")
    page.wait_for_function("window.corral && window.corral.firstRender !== null")


def _first_render_ms(page: Any, url: str) -> tuple[float, float, float]:
    """(first render, DOMContentLoaded, the first status reply's end), ms from navigation."""
    page.goto(url + "/")
    page.wait_for_function("window.corral && window.corral.firstRender !== null")
    return cast(
        tuple[float, float, float],
        tuple(
            page.evaluate(
                "[performance.getEntriesByName('corral-first-render')[0].startTime,"
                " performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,"
                " performance.getEntriesByType('resource')"
                ".find(e => e.name.endsWith('/v1/status')).responseEnd]"
            )
        ),
    )


def _event_lag_ms(page: Any, daemon: _Daemon, name: str) -> float:
    page.wait_for_function(
        'n => { const r = document.querySelector(`tr[data-name="${n}"]`);'
        " return r && r.dataset.state === 'RUNNING'; }",
        arg=name,
    )
    seen = page.evaluate("window.corral.events")
    daemon.call("POST", "/v1/restart", {"targets": [name]})
    page.wait_for_function(
        "([n, seen]) => { const e = window.corral.lastEvent; return window.corral.events > seen"
        " && e && e.subject === n && e.state === 'RUNNING'; }",
        arg=[name, seen],
        timeout=DEADLINE * 1000,
    )
    last = page.evaluate("window.corral.lastEvent")
    return float(last["shown"]) - float(last["emitted"])


def _percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def measure(rounds: int, programs: int, screenshot: str | None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-web") as tmp:
        on_dir, off_dir = Path(tmp, "on"), Path(tmp, "off")
        on_dir.mkdir()
        off_dir.mkdir()
        with_web = _Daemon(on_dir, programs, web=True)
        without = _Daemon(off_dir, programs, web=False)
        try:
            url = with_web.url()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                )
                try:
                    # Playwright evaluates predicates with eval(), which the page's policy forbids.
                    context = browser.new_context(
                        viewport={"width": 1500, "height": 900}, bypass_csp=True
                    )
                    page = context.new_page()
                    page.set_default_timeout(DEADLINE * 1000)
                    _log_in(page, url)
                    renders, parsed, replied, direct, lags = [], [], [], [], []
                    for index in range(rounds):
                        started = time.perf_counter()
                        with_web.call("GET", "/v1/status")
                        direct.append((time.perf_counter() - started) * 1000)
                        render, dom, status = _first_render_ms(page, url)
                        renders.append(render)
                        parsed.append(dom)
                        replied.append(status)
                        lags.append(_event_lag_ms(page, with_web, f"worker{index % programs}:0"))
                    if screenshot:
                        _screenshot(page, with_web, screenshot)
                    page.click('tr[data-name="api:0"] button[data-action="logs"]')
                    page.wait_for_function("window.corral.following !== null")
                    without.call("GET", "/v1/status")
                    rss = {"on": with_web.rss_kib(), "off": without.rss_kib()}
                finally:
                    browser.close()
        finally:
            with_web.stop()
            without.stop()
    return {
        "first_render_ms": renders,
        "dom_content_loaded_ms": parsed,
        "status_reply_end_ms": replied,
        "status_unix_ms": direct,
        "event_lag_ms": lags,
        "rss_kib": rss,
    }


def _screenshot(page: Any, daemon: _Daemon, path: str) -> None:
    """The dashboard with a crashed program and a coloured log shown."""
    daemon.call("POST", "/v1/start", {"targets": ["crasher"]})
    page.wait_for_function(
        "() => { const r = document.querySelector('tr[data-name=\"crasher:0\"]');"
        " return r && r.dataset.state !== 'STARTING' && r.dataset.state !== 'RUNNING'; }"
    )
    page.click('tr[data-name="api:0"] button[data-action="logs"]')
    page.wait_for_function("document.getElementById('log-lines').textContent.includes('error')")
    time.sleep(3)  # for the picture only: samples for the sparklines (1 s interval)
    page.goto(page.url)
    page.wait_for_function("window.corral && window.corral.firstRender !== null")
    page.click('tr[data-name="api:0"] button[data-action="logs"]')
    page.wait_for_function("document.getElementById('log-lines').textContent.includes('error')")
    page.wait_for_function("document.querySelector('svg.mem polyline').getAttribute('points')")
    page.screenshot(path=path, full_page=True)


def report(result: dict[str, Any]) -> list[str]:
    lines = [f"{'figure':<16} {'p50':>9} {'p99':>9} {'target':>10}  met"]
    for key, label, target in (
        ("first_render_ms", "first render", FIRST_RENDER_TARGET_MS),
        ("dom_content_loaded_ms", " page parsed", None),
        ("status_reply_end_ms", " status reply", None),
        ("status_unix_ms", "status (unix)", None),
        ("event_lag_ms", "event lag", EVENT_LAG_TARGET_MS),
    ):
        values = result[key]
        p50, p99 = _percentile(values, 0.5), _percentile(values, 0.99)
        if target is None:  # a part of the first render, for information
            lines.append(f"{label:<16} {p50:>6.1f} ms {p99:>6.1f} ms {'(info)':>10}")
            continue
        met = "yes" if p50 <= target else "NO"
        lines.append(f"{label:<16} {p50:>6.1f} ms {p99:>6.1f} ms {target:>7.0f} ms  {met}")
    rss = result["rss_kib"]
    lines.append(
        f"daemon VmRSS: {rss['off']} KiB without [web], {rss['on']} KiB with it "
        f"(a page loaded, following events and a log): +{rss['on'] - rss['off']} KiB"
    )
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__)
    parser.add_argument("--rounds", type=int, default=30, help="samples of each figure (30)")
    parser.add_argument("--programs", type=int, default=10, help="programs of 2 instances (10)")
    parser.add_argument("--screenshot", help="save a PNG of the dashboard here")
    parser.add_argument("--json", action="store_true", help="print the samples as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"needs Debian's chromium at {CHROMIUM}", file=sys.stderr)
        return 2
    result = measure(args.rounds, max(1, args.programs), args.screenshot)
    if args.json:
        print(json.dumps(result))
        return 0
    print("command:", " ".join(sys.orig_argv))
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()))
    print("\n".join(report(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
