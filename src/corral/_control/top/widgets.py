"""The instance table of `corral top`: a line-API scroll view that renders only rows in view.

Why not textual's DataTable: it renders only the lines in view too, but any change of
any cell invalidates all its render caches and each visible cell is rendered through
rich again (at 200 instances and a 1 s sampler that cost a quarter of a core,
`bench/top.py`). Here each row is one `Strip` built from its cells' text and kept
until that row changes; a frame crops the strips in view, and a change repaints only
the lines it touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

__all__ = ["ColumnHeader", "InstanceTable"]

Cell = tuple[str, str]
"""A cell's text and its rich style ("" for none)."""

Columns = Sequence[tuple[str, str, int]]
"""(key, label, width) of each column, in order."""

_CURSOR = Style(reverse=True)


def _strip(cells: Sequence[Cell], columns: Columns, length: int) -> Strip:
    """One row; every cell is one character per cell (names, numbers, block bars)."""
    segments = []
    for (text, style), (_, _, width) in zip(cells, columns, strict=True):
        segments.append(Segment(text[:width].ljust(width) + " ", _style(style)))
    return Strip(segments, length)


_STYLES: dict[str, Style] = {}


def _style(name: str) -> Style:
    style = _STYLES.get(name)
    if style is None:
        style = _STYLES[name] = Style.parse(name) if name else Style()
    return style


class ColumnHeader(Static):
    """The column labels; a click on one posts `Sort` with its key."""

    class Sort(Message):
        """A column label was clicked."""

        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, columns: Columns, *, id: str | None = None) -> None:
        labels = "".join(label[:width].ljust(width) + " " for _, label, width in columns)
        super().__init__(labels, id=id)
        self.columns = columns

    def on_click(self, event: Click) -> None:
        x = event.x
        for key, _, width in self.columns:
            if x <= width:
                self.post_message(self.Sort(key))
                return
            x -= width + 1


class InstanceTable(ScrollView, can_focus=True):
    """Rows by name in a given order; `cells(name)` gives a row's cells when it is drawn."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", show=False),
        Binding("down", "move(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("home", "move(-1000000000)", show=False),
        Binding("end", "move(1000000000)", show=False),
    ]

    class Highlighted(Message):
        """The cursor moved to another row."""

        def __init__(self, name: str | None) -> None:
            super().__init__()
            self.name = name

    def __init__(
        self, columns: Columns, cells: Callable[[str], Sequence[Cell]], *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.columns = columns
        self._cells = cells
        self._width = sum(width + 1 for _, _, width in columns)
        self.order: list[str] = []
        self._index: dict[str, int] = {}
        self._strips: dict[str, Strip] = {}
        """Each drawn row's strip, cropped to the width it was drawn at."""
        self._drawn: dict[str, Sequence[Cell]] = {}
        """The cells each strip was built from: a change that leaves them equal repaints nothing."""
        self._drawn_width = 0
        self.cursor = 0
        self.rendered_rows = 0
        """Row strips built so far (a test and the bench read it)."""

    @property
    def selected(self) -> str | None:
        """The name of the row under the cursor."""
        return self.order[self.cursor] if 0 <= self.cursor < len(self.order) else None

    def show(self, order: list[str], keep: str | None = None) -> None:
        """Show these rows in this order; the cursor stays on `keep` if it is among them."""
        self.order = order
        self._index = {name: i for i, name in enumerate(order)}
        self.virtual_size = Size(self._width, len(order))
        self.cursor = self._index.get(keep or "", min(self.cursor, max(0, len(order) - 1)))
        self.refresh()

    def changed(self, names: set[str] | frozenset[str]) -> None:
        """These rows' data changed: repaint those in view whose cells differ now."""
        top, height = self.scroll_offset.y, self.size.height
        for name in names:
            index = self._index.get(name)
            if index is None or not top <= index < top + height:
                self._strips.pop(name, None)
                self._drawn.pop(name, None)
            elif self._cells(name) != self._drawn.get(name):
                self._strips.pop(name, None)
                self.refresh_line(index)

    def in_view(self) -> list[str]:
        """The names of the rows in view."""
        top = self.scroll_offset.y
        return self.order[top : top + self.size.height]

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        if index >= len(self.order):
            return Strip.blank(width)
        if width != self._drawn_width:
            self._strips.clear()
            self._drawn_width = width
        name = self.order[index]
        strip = self._strips.get(name) if scroll_x == 0 else None
        if strip is None:
            cells = self._drawn[name] = self._cells(name)
            strip = _strip(cells, self.columns, self._width)
            strip = strip.crop_extend(scroll_x, scroll_x + width, None)
            self.rendered_rows += 1
            if scroll_x == 0:
                self._strips[name] = strip
        if index == self.cursor and self.has_focus:
            strip = strip.apply_style(_CURSOR)
        return strip

    def move_to(self, index: int) -> None:
        """Put the cursor on row `index` (clamped) and scroll it into view."""
        if not self.order:
            return
        before = self.cursor
        self.cursor = max(0, min(len(self.order) - 1, index))
        self.refresh_line(before)
        self.refresh_line(self.cursor)
        self.scroll_to_region(Region(0, self.cursor, 1, 1), animate=False, immediate=True)
        if before != self.cursor:
            self.post_message(self.Highlighted(self.selected))

    def action_move(self, step: int) -> None:
        self.move_to(self.cursor + step)

    def action_page(self, step: int) -> None:
        self.move_to(self.cursor + step * max(1, self.size.height - 1))

    def on_click(self, event: Click) -> None:
        self.move_to(self.scroll_offset.y + event.y)

    def on_focus(self) -> None:
        self.refresh_line(self.cursor)

    def on_blur(self) -> None:
        self.refresh_line(self.cursor)
