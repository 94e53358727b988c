"""The instance table draws only the rows in view and repaints only rows whose cells changed.

The table alone in a small app, fed 5,000 rows of made-up cells (the table is ours; no
daemon is needed to show what it draws).
"""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from corral._control.top.widgets import Cell, InstanceTable

COLUMNS = (("name", "NAME", 10), ("cpu", "CPU", 5))
ROWS = 5000


class _Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.values = {f"n{i:04d}": 0 for i in range(ROWS)}
        self.table = InstanceTable(COLUMNS, self.cells)

    def cells(self, name: str) -> list[Cell]:
        return [(name, ""), (str(self.values[name]), "")]

    def compose(self) -> ComposeResult:
        yield self.table

    def on_mount(self) -> None:
        self.table.show(sorted(self.values))
        self.table.focus()


def test_only_rows_in_view_are_built_and_an_unchanged_row_is_not_built_again() -> None:
    async def main() -> None:
        app = _Host()
        async with app.run_test(size=(40, 20)) as pilot:
            await pilot.pause()
            table = app.table
            in_view = table.in_view()
            assert len(in_view) == 20
            assert table.rendered_rows == 20
            assert [table.render_line(y).text.rstrip() for y in range(2)] == [
                "n0000      0",
                "n0001      0",
            ]
            table.changed(set(app.values))  # nothing in the cells changed: nothing is rebuilt
            await pilot.pause()
            assert table.rendered_rows == 20
            app.values["n0003"] = 42
            app.values["n4000"] = 42  # out of view
            table.changed({"n0003", "n4000"})
            await pilot.pause()
            assert table.rendered_rows == 21
            assert table.render_line(3).text.rstrip() == "n0003      42"
            await pilot.press("end")
            await pilot.pause()
            assert table.selected == "n4999"
            assert table.rendered_rows == 41  # the last screenful, not the 4,960 between

    asyncio.run(main())
