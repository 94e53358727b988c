"""`corral top`'s textual app: the table of instances, kept current by the event stream.

One `GET /v1/status` fills the `Fleet` (model.py); from then on the event stream
(`GET /v1/events?follow=1&metrics=1`, subscribed before that status is read, so nothing
falls between) keeps it current: state and health events, and the sampler's metrics
message each tick. The blocking client runs in worker threads (one for the feed, one
per followed log stream, one per action); the model and the widgets change on the
app's thread only (`call_from_thread`).

The table (widgets.InstanceTable) formats a row only when it is drawn, and a change
repaints only the rows in view that it touched; a row that changed out of view is
formatted when it scrolls in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Input, Log, Static, Tree
from textual.widgets.tree import TreeNode

from corral._control.client import Client
from corral._control.top.cells import COLUMN_WIDTHS, header_text, row_cells
from corral._control.top.model import COLUMNS, Change, Fleet
from corral._control.top.screens import AskCount, Confirm, PickSignal
from corral._control.top.widgets import Cell, ColumnHeader, InstanceTable
from corral._control.wire import API_PREFIX
from corral._errors import CorralError

__all__ = ["MIN_HEIGHT", "MIN_WIDTH", "TopApp"]

MIN_WIDTH = 60
MIN_HEIGHT = 12
"""Below this size the app shows a message instead of its layout."""

_DYNAMIC = frozenset({"cpu_percent", "rss", "memory_share", "fds", "uptime"})
"""Sort columns whose values change with every sample (the order is checked each tick)."""

HISTORY_BATCH = 60
"""Rows whose history one worker asks for at a time (a screenful)."""

_WAIT = 0.5
"""Seconds a worker waits for bytes before it checks whether it should stop."""

Connect = Callable[[], Client]


class TopApp(App[int]):
    """The live table of a daemon's instances, with actions on the selected one."""

    TITLE = "corral top"
    AUTO_FOCUS = "#table"
    CSS = """
    #small { display: none; width: 100%; height: 100%; content-align: center middle; }
    #header { height: 2; background: $boost; }
    #filter { display: none; height: 3; }
    #columns { height: 1; text-style: bold; }
    #table { height: 1fr; }
    #bottom { height: 12; display: none; }
    #tree { width: 1fr; display: none; }
    #log { width: 2fr; display: none; }
    #notice { height: 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("slash", "filter", "filter"),
        Binding("escape", "clear_filter", "clear", show=False),
        Binding("less_than_sign", "sort(-1)", "sort <", show=False),
        Binding("greater_than_sign", "sort(1)", "sort >"),
        Binding("I", "invert", "invert", show=False),
        Binding("s", "act('start')", "start"),
        Binding("x", "act('stop')", "stop"),
        Binding("r", "act('restart')", "restart"),
        Binding("k", "signal", "signal"),
        Binding("c", "scale", "scale"),
        Binding("t", "tree", "tree"),
        Binding("l", "logs", "logs"),
    ]

    def __init__(self, connect: Connect) -> None:
        super().__init__()
        self._connect = connect
        self.fleet = Fleet()
        self.order: list[str] = []
        """Names in table order (the rows shown, filtered and sorted)."""
        self.sort_column = "name"
        self.reverse = False
        self.filter_text = ""
        self.loaded = False
        """The first status reply was applied."""
        self.events_applied = 0
        self._closing = False
        self._log_generation = 0
        self._log_name: str | None = None
        self._log_timer: Any = None
        self._history_asked: set[str] = set()
        """Rows whose kept samples were asked for (once each, when first drawn)."""
        self._history_wanted: list[str] = []
        self._history_busy = False
        self.small_note = Static("", id="small")
        self.main_view = Vertical(id="main")
        self.header_line = Static("corral top: connecting...", id="header")
        self.filter_box = Input(placeholder="filter by name or state; enter to keep", id="filter")
        self.columns = ColumnHeader(COLUMN_WIDTHS, id="columns")
        self.table = InstanceTable(COLUMN_WIDTHS, self.cells, id="table")
        self.bottom_panel = Horizontal(id="bottom")
        self.tree_panel: Tree[None] = Tree("processes", id="tree")
        self.log_panel = Log(id="log", max_lines=500)
        self.notice_line = Static("", id="notice")

    # -- layout -----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.small_note
        with self.main_view:
            yield self.header_line
            yield self.filter_box
            yield self.columns
            yield self.table
            with self.bottom_panel:
                yield self.tree_panel
                yield self.log_panel
            yield self.notice_line
            yield Footer()

    def on_mount(self) -> None:
        self._fit(self.size.width, self.size.height)
        self.set_interval(1.0, self._tick_clock)
        self.run_worker(self._feed, thread=True, exclusive=False, group="feed")

    def on_unmount(self) -> None:
        self._closing = True

    def on_resize(self, event: Any) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        """Show the message alone when the terminal is below MIN_WIDTH x MIN_HEIGHT."""
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        message = self.small_note
        message.update(
            f"corral top needs a terminal of at least {MIN_WIDTH}x{MIN_HEIGHT};"
            f" this one is {width}x{height}. Enlarge it, or press q to quit."
        )
        message.display = small
        self.main_view.display = not small

    @property
    def too_small(self) -> bool:
        return bool(self.small_note.display)

    # -- the feed ---------------------------------------------------------------

    def _feed(self) -> None:
        """Worker thread: subscribe, read status once, then hand each event to the app."""
        try:
            with self._connect() as client:
                feed = client.follow_events(metrics=True)  # before status: nothing is missed
                self.call_from_thread(self._loaded, client.request("GET", f"{API_PREFIX}/status"))
                while not self._closing:
                    try:
                        event = feed.next(_WAIT)
                    except TimeoutError:
                        continue
                    except StopIteration:
                        self.call_from_thread(self._notice, "the daemon ended the event stream")
                        return
                    change = self.call_from_thread(self._event, event)
                    if change.reload and not self._closing:
                        status = client.request("GET", f"{API_PREFIX}/status")
                        self.call_from_thread(self._loaded, status)
        except CorralError as exc:
            if not self._closing:
                self.call_from_thread(self._notice, f"no daemon: {exc}")

    def _loaded(self, status: Any) -> None:
        self.fleet.load(status, time.time())
        self.loaded = True
        self._rebuild()

    def _event(self, event: Any) -> Change:
        change = self.fleet.apply(event)
        self.events_applied += 1
        if change.added:
            self._rebuild()
        elif change.rows:
            if self.sort_column in _DYNAMIC and self._resorted():
                self._rebuild()
            else:
                self._changed(change.rows)
        if change.header or change.added:
            self._draw_header()
        return change

    # -- the table --------------------------------------------------------------

    def _rebuild(self) -> None:
        """Show the rows again in the current filter and order; keeps the selection."""
        rows = self.fleet.visible(self.filter_text, self.sort_column, self.reverse)
        self.order = [row.name for row in rows]
        self.table.show(self.order, keep=self.table.selected)
        self.table.changed(set(self.order))
        self._draw_header()

    def _resorted(self) -> bool:
        rows = self.fleet.visible(self.filter_text, self.sort_column, self.reverse)
        return [row.name for row in rows] != self.order

    def _changed(self, names: frozenset[str] | set[str]) -> None:
        self.table.changed(names)

    def cells(self, name: str) -> list[Cell]:
        """The cells of row `name` now (the table asks when it draws the row).

        A row drawn for the first time has its kept samples asked for, for its sparklines.
        """
        if name not in self._history_asked:
            self._history_asked.add(name)
            self._history_wanted.append(name)
        return row_cells(self.fleet.rows[name], time.time())

    def cell(self, name: str, column: str) -> str:
        """The text of one cell as the table draws it."""
        keys = [key for key, _, _ in COLUMN_WIDTHS]
        return self.cells(name)[keys.index(column)][0]

    def _tick_clock(self) -> None:
        """Once a second: the uptimes in view, the header, and the history rows need."""
        if not self.loaded:
            return
        if self._history_wanted and not self._history_busy:
            batch, self._history_wanted = (
                self._history_wanted[:HISTORY_BATCH],
                self._history_wanted[HISTORY_BATCH:],
            )
            self._history_busy = True
            self.run_worker(lambda: self._histories(batch), thread=True, group="history")
        self.table.changed({n for n in self.table.in_view() if self.fleet.rows[n].since})
        self._draw_header()

    @property
    def settled(self) -> bool:
        """Filled, sampled, and the history of the rows drawn so far is in (the bench
        measures from here: what follows is the steady cost)."""
        started = self.loaded and self.fleet.header.samples > 0 and bool(self._history_asked)
        return started and not self._history_wanted and not self._history_busy

    def _histories(self, names: list[str]) -> None:
        """Worker thread: each row's kept samples (`GET /v1/metrics/NAME/history`)."""
        try:
            with self._connect() as client:
                for name in names:
                    if self._closing:
                        return
                    with suppress(CorralError):  # gone meanwhile: nothing to show
                        reply = client.request("GET", f"{API_PREFIX}/metrics/{name}/history")
                        self.call_from_thread(self._seeded, name, reply)
        except CorralError:
            pass
        finally:
            self._history_busy = False

    def _seeded(self, name: str, reply: Any) -> None:
        if self.fleet.seed_history(name, reply.get("points") or ()):
            self.table.changed({name})

    def _draw_header(self) -> None:
        note = f"sort {self.sort_column}{' desc' if self.reverse else ''}"
        if self.filter_text:
            note += f"  filter {self.filter_text!r}"
        text = header_text(self.fleet, time.time(), len(self.order), note)
        self.header_line.update(text, layout=False)  # a fixed height: no layout pass

    @property
    def selected(self) -> str | None:
        """The name of the row under the cursor."""
        return self.table.selected

    # -- sorting and filtering --------------------------------------------------

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        """Order the rows by `column` (one of model.COLUMNS)."""
        self.sort_column = column
        if reverse is not None:
            self.reverse = reverse
        self._rebuild()

    def action_sort(self, step: int) -> None:
        index = (COLUMNS.index(self.sort_column) + step) % len(COLUMNS)
        self.sort_by(COLUMNS[index])

    def action_invert(self) -> None:
        self.sort_by(self.sort_column, not self.reverse)

    def on_column_header_sort(self, event: ColumnHeader.Sort) -> None:
        key = event.column
        if key in COLUMNS:
            self.sort_by(key, not self.reverse if key == self.sort_column else False)

    def action_filter(self) -> None:
        box = self.filter_box
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.filter_text = event.value
            self._rebuild()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.input.display = bool(event.value)
            self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.filter_box
        box.value = ""
        box.display = False
        self.filter_text = ""
        self._rebuild()
        self.table.focus()

    # -- actions ----------------------------------------------------------------

    def action_act(self, verb: str) -> None:
        name = self.selected
        if name is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._call(f"{verb} {name}", "POST", f"/{verb}", {"targets": [name]})

        self.push_screen(Confirm(f"{verb} {name}?"), answered)

    def action_signal(self) -> None:
        name = self.selected
        if name is None:
            return

        def picked(signal: str | None) -> None:
            if signal is not None:
                body = {"signal": signal, "targets": [name]}
                self.push_screen(
                    Confirm(f"send SIG{signal} to {name}?"),
                    lambda yes: self._call_if(yes, f"SIG{signal} {name}", "/signal", body),
                )

        self.push_screen(PickSignal(name), picked)

    def action_scale(self) -> None:
        name = self.selected
        if name is None:
            return
        program = self.fleet.rows[name].program
        current = sum(row.program == program for row in self.fleet.rows.values())

        def counted(count: int | None) -> None:
            if count is not None:
                body = {"program": program, "count": count}
                self.push_screen(
                    Confirm(f"scale {program} from {current} to {count}?"),
                    lambda yes: self._call_if(yes, f"scale {program}", "/scale", body),
                )

        self.push_screen(AskCount(program, current), counted)

    def _call_if(self, yes: bool | None, what: str, path: str, body: object) -> None:
        if yes:
            self._call(what, "POST", path, body)

    def _call(self, what: str, method: str, path: str, body: object) -> None:
        self._notice(f"{what}...")

        def run() -> None:
            try:
                with self._connect() as client:
                    reply = client.request(method, API_PREFIX + path, body)
                    message = f"{what}: {_outcome(reply)}"
                    status = (
                        client.request("GET", f"{API_PREFIX}/status") if "scale" in what else None
                    )
            except CorralError as exc:
                message, status = f"{what} failed: {exc}", None
            if not self._closing:
                self.call_from_thread(self._notice, message)
                if status is not None:
                    self.call_from_thread(self._loaded, status)

        self.run_worker(run, thread=True, group="actions")

    def _notice(self, text: str) -> None:
        self.notice_line.update(text, layout=False)

    # -- the selected instance: its tree and its log ----------------------------

    def action_tree(self) -> None:
        tree = self.tree_panel
        tree.display = not tree.display
        self._bottom()
        name = self.selected
        if tree.display and name is not None:
            self.run_worker(lambda: self._inspect(name), thread=True, group="inspect")

    def _inspect(self, name: str) -> None:
        try:
            with self._connect() as client:
                reply = client.request("GET", f"{API_PREFIX}/inspect/{name}")
        except CorralError as exc:
            reply = {"error": str(exc)}
        if not self._closing:
            self.call_from_thread(self._show_tree, name, reply)

    def _show_tree(self, name: str, reply: Any) -> None:
        tree = self.tree_panel
        tree.clear()
        tree.root.set_label(f"{name} processes")
        if "error" in reply:
            tree.root.add_leaf(str(reply["error"]))
        processes = reply.get("processes") or []
        pids = {p["pid"] for p in processes}
        nodes: dict[int, TreeNode[None]] = {}
        for process in processes:  # parents come before their children in a snapshot
            parent = nodes.get(process["ppid"], tree.root) if process["ppid"] in pids else tree.root
            label = f"{process['pid']} {process['state']} {' '.join(process['cmdline'])[:60]}"
            nodes[process["pid"]] = parent.add(label, expand=True)
        for note in reply.get("notes") or ():
            tree.root.add_leaf(Text(str(note), style="dim"))
        tree.root.expand()

    def action_logs(self) -> None:
        log = self.log_panel
        log.display = not log.display
        self._bottom()
        self._log_name = None
        self._log_generation += 1
        if log.display:
            self._follow_selected()

    def on_instance_table_highlighted(self, event: InstanceTable.Highlighted) -> None:
        if self.log_panel.display and self.selected != self._log_name:
            if self._log_timer is not None:
                self._log_timer.stop()
            self._log_timer = self.set_timer(0.3, self._follow_selected)

    def _follow_selected(self) -> None:
        name = self.selected
        if name is None or name == self._log_name:
            return
        self._log_name = name
        self._log_generation += 1
        generation = self._log_generation
        log = self.log_panel
        log.clear()
        log.write_line(f"-- {name}: the last lines, then what it writes --")
        for stream in ("stdout", "stderr"):
            self.run_worker(
                lambda s=stream: self._follow(name, s, generation), thread=True, group="logs"
            )

    def _follow(self, name: str, stream: str, generation: int) -> None:
        """Worker thread: the log's last lines, then each chunk as the daemon writes it."""
        prefix = "" if stream == "stdout" else "err| "
        try:
            with self._connect() as client:
                tail = client.request(
                    "GET", f"{API_PREFIX}/logs/{name}", None, {"stream": stream, "lines": "20"}
                )
                self._write_log(generation, [prefix + line for line in _lines(tail)])
                with client.stream(
                    "GET", f"{API_PREFIX}/logs/{name}/follow", {"stream": stream}
                ) as chunks:
                    chunks.settimeout(_WAIT)
                    for text in _chunks(chunks, lambda: self._current(generation)):
                        self._write_log(generation, [prefix + line for line in text.splitlines()])
        except CorralError as exc:
            self._write_log(generation, [f"{prefix}(no log: {exc})"])

    def _current(self, generation: int) -> bool:
        return not self._closing and generation == self._log_generation

    def _write_log(self, generation: int, lines: list[str]) -> None:
        if lines and self._current(generation):
            with suppress(RuntimeError):  # the app closed meanwhile
                self.call_from_thread(self.log_panel.write_lines, lines)

    def _bottom(self) -> None:
        shown = self.tree_panel.display or self.log_panel.display
        self.bottom_panel.display = shown


def _chunks(stream: Iterator[bytes], going: Callable[[], bool]) -> Iterator[str]:
    """Decoded chunks of `stream` while `going()`; a wait of _WAIT seconds re-checks it."""
    while going():
        try:
            chunk = next(stream)
        except TimeoutError:
            continue
        except StopIteration:
            return
        yield chunk.decode("utf-8", "replace")


def _lines(reply: Any) -> list[str]:
    return [str(line) for line in (reply or {}).get("lines", [])]


def _outcome(reply: Any) -> str:
    """A short text of an action's reply: each target's outcome, or "done"."""
    outcomes = reply.get("results") if isinstance(reply, dict) else None
    if not outcomes:
        return "done"
    return "; ".join(
        f"{item.get('name')} {'ok' if item.get('ok') else 'failed'} {item.get('state', '')}"
        f" {item.get('message') or ''}".strip()
        for item in outcomes
    )
