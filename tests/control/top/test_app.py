"""`corral top` driven by textual's pilot against a real daemon: what it shows, and its keys.

The app reads one status and then only the event stream; each test waits for the row's
value it expects, never for a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from textual.pilot import Pilot

from corral._control.client import Client
from corral._control.top.app import TopApp
from corral._control.top.screens import SIGNALS
from tests.control.top.conftest import until
from tests.support.daemon import Daemon

Scenario = Callable[[TopApp, Pilot[int]], Awaitable[None]]


def _run(daemon: Daemon, scenario: Scenario, size: tuple[int, int] = (160, 40)) -> TopApp:
    async def main() -> TopApp:
        app = TopApp(lambda: Client(daemon.socket))
        async with app.run_test(size=size) as pilot:
            await until(pilot.pause, lambda: app.loaded, "the first status")
            await scenario(app, pilot)
        return app

    return asyncio.run(main())


def _cell(app: TopApp, name: str, column: str) -> str:
    return app.cell(name, column)


def _drawn(app: TopApp) -> list[str]:
    """The table's lines as drawn on the screen."""
    return [app.table.render_line(y).text.rstrip() for y in range(len(app.table.order))]


def test_the_table_shows_every_instance_and_the_header_the_daemon_and_host(
    daemon: Daemon,
) -> None:
    async def scenario(app: TopApp, pilot: Pilot[int]) -> None:
        await until(pilot.pause, lambda: app.fleet.header.samples > 0, "a metrics sample")
        assert app.order == ["crash:0", "web:0", "web:1", "web:2"]
        pid = daemon.status()["web:1"]["pid"]
        assert _cell(app, "web:1", "state") == "RUNNING"
        line = _drawn(app)[2]
        assert line.startswith(f"web:1{' ' * 14}RUNNING{' ' * 13}{pid} ")
        await until(pilot.pause, lambda: _cell(app, "web:1", "rss") != "", "web:1's RSS")
        header = str(app.header_line.render())
        for part in ("corral 0.1.0", "RUNNING 3", "STOPPED 1", "host cpu", "load", "mem"):
            assert part in header
        assert "fds: not sampled" in header

    _run(daemon, scenario)


def test_the_sparklines_start_from_the_daemons_kept_history(daemon: Daemon) -> None:
    async def scenario(app: TopApp, pilot: Pilot[int]) -> None:
        row = app.fleet.rows["web:2"]
        await until(
            pilot.pause,
            lambda: len(row.rss_history) > app.fleet.header.samples + 1,
            "more points in web:2's sparkline than metrics messages received",
        )
        assert app.cell("web:2", "rss_spark").strip()

    _run(daemon, scenario)


def test_a_program_that_exits_appears_live_from_the_event_stream(daemon: Daemon) -> None:
    async def scenario(app: TopApp, pilot: Pilot[int]) -> None:
        applied = app.events_applied
        daemon.call("POST", "/start", {"targets": ["crash:0"]})
        row = app.fleet.rows["crash:0"]
        await until(pilot.pause, lambda: row.state == "EXITED", "crash:0 EXITED in the table")
        assert app.events_applied > applied
        assert row.last_exit == "exit 3"
        assert _cell(app, "crash:0", "state") == "EXITED"
        assert _cell(app, "crash:0", "last_exit") == "exit 3"

    _run(daemon, scenario)


def test_sorting_by_a_column_and_inverting_reorders_the_rows(daemon: Daemon) -> None:
    async def scenario(app: TopApp, pilot: Pilot[int]) -> None:
        await pilot.press("I")
        assert app.order == ["web:2", "web:1", "web:0", "crash:0"]
        await pilot.press("greater_than_sign")  # the next column: state
        assert app.sort_column == "state"
        states = [app.fleet.rows[name].state for name in app.order]
        assert states == sorted(states, reverse=True)
        assert app.table.order == app.order

    _run(daemon, scenario)


def test_slash_filters_the_rows_and_escape_clears_the_filter(daemon: Daemon) -> None:
    async def scenario(app: TopApp, pilot: Pilot[int]) -> None:
        await pilot.press("slash", "w", "e", "b", "enter")
        assert app.order == ["web:0", "web:1", "web:2"]
        assert len(app.table.order) == 3
        await pilot.press("slash", "escape")
        assert len(app.table.order) == 4

    _run(daemon, scenario)


def test_restart_from_the_ui_asks_first_then_restarts_the_instance(daemon: Daemon) -> None:
    async def scenario(app: TopApp, pilot: Pilot[int]) -> None:
        before = daemon.status()["web:0"]["pid"]
        app.table.move_to(app.order.index("web:0"))
        await pilot.press("r")
        await pilot.press("n")  # declined: nothing is sent
        assert app.fleet.rows["web:0"].pid == before
        await pilot.press("r", "y")
        row = app.fleet.rows["web:0"]
        await until(
            pilot.pause,
            lambda: row.state == "RUNNING" and row.pid not in (None, before),
            "web:0 RUNNING with a new pid",
        )
        assert daemon.status()["web:0"]["pid"] == row.pid
        await until(
            pilot.pause,
            lambda: "restart web:0: web:0 ok" in str(app.notice_line.render()),
            "the outcome in the notice line",
        )

    _run(daemon, scenario)


def test_a_terminal_too_small_shows_a_message_instead_of_the_layout(daemon: Daemon) -> None:
    async def scenario(app: TopApp, pilot: Pilot[int]) -> None:
        assert app.too_small
        assert "at least 60x12; this one is 50x10" in str(app.small_note.render())
        assert not app.main_view.display
        await pilot.resize_terminal(100, 30)
        await until(pilot.pause, lambda: not app.too_small, "the layout back")
        assert app.main_view.display

    _run(daemon, scenario, size=(50, 10))


def test_the_log_tail_follows_the_selected_instance(daemon: Daemon) -> None:
    async def scenario(app: TopApp, pilot: Pilot[int]) -> None:
        daemon.call("POST", "/start", {"targets": ["crash:0"]})
        await until(pilot.pause, lambda: app.fleet.rows["crash:0"].state == "EXITED", "EXITED")
        app.table.move_to(app.order.index("crash:0"))
        await pilot.press("l")
        await until(
            pilot.pause,
            lambda: any("about to fail" in line for line in app.log_panel.lines),
            "crash:0's output in the log panel",
        )

    _run(daemon, scenario)


def test_the_tree_view_shows_the_selected_instance_processes(daemon: Daemon) -> None:
    async def scenario(app: TopApp, pilot: Pilot[int]) -> None:
        app.table.move_to(app.order.index("web:2"))
        pid = daemon.status()["web:2"]["pid"]
        await pilot.press("t")

        def labels() -> list[str]:
            return [str(node.label) for node in app.tree_panel.root.children]

        await until(
            pilot.pause, lambda: any(s.startswith(f"{pid} ") for s in labels()), "web:2's pid"
        )
        assert any("sleep 300" in label for label in labels())

    _run(daemon, scenario)


def test_scale_from_the_ui_asks_the_count_then_confirms_and_the_new_instance_shows(
    daemon: Daemon,
) -> None:
    async def scenario(app: TopApp, pilot: Pilot[int]) -> None:
        app.table.move_to(app.order.index("web:1"))
        await pilot.press("c")
        await pilot.press("backspace", "4", "enter")  # the box holds the count now: 3
        await pilot.press("y")
        await until(
            pilot.pause,
            lambda: "web:3" in app.fleet.rows and app.fleet.rows["web:3"].state == "RUNNING",
            "web:3 RUNNING in the table",
        )
        assert "web:3" in app.table.order
        daemon.call("POST", "/scale", {"program": "web", "count": 3})
        await until(pilot.pause, lambda: "web:3" not in daemon.status(), "web back to 3")

    _run(daemon, scenario)


def test_the_signal_menu_sends_the_chosen_signal_after_confirmation(daemon: Daemon) -> None:
    async def scenario(app: TopApp, pilot: Pilot[int]) -> None:
        app.table.move_to(app.order.index("web:2"))
        before = app.fleet.rows["web:2"].pid
        await pilot.press("k")
        for _ in range(SIGNALS.index("KILL")):
            await pilot.press("down")
        await pilot.press("enter", "y")
        row = app.fleet.rows["web:2"]
        await until(
            pilot.pause,
            lambda: row.last_exit == "SIGKILL" and row.pid not in (None, before),
            "web:2 killed by SIGKILL and restarted",
        )

    _run(daemon, scenario)
