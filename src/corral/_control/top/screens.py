"""The modal screens of `corral top`: confirm an action, pick a signal, give a count."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList

__all__ = ["AskCount", "Confirm", "PickSignal"]

SIGNALS = ("HUP", "INT", "TERM", "USR1", "USR2", "QUIT", "KILL", "STOP", "CONT", "WINCH")
"""What the signal menu offers (the daemon accepts any signal name)."""

_CSS = """
Confirm, PickSignal, AskCount { align: center middle; }
Confirm > Vertical, PickSignal > Vertical, AskCount > Vertical {
    width: 50; height: auto; max-height: 20; border: round $accent; padding: 0 1;
}
"""


class Confirm(ModalScreen[bool]):
    """`question`, answered with y (True) or n / escape (False)."""

    DEFAULT_CSS = _CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            yield Label("[b]y[/b] yes   [b]n[/b] no")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PickSignal(ModalScreen[str | None]):
    """The signal to send to `name`, or None (escape)."""

    DEFAULT_CSS = _CSS
    AUTO_FOCUS = "#signals"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.target = name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"send a signal to {self.target}")
            yield OptionList(*SIGNALS, id="signals")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(SIGNALS[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskCount(ModalScreen[int | None]):
    """How many instances `program` should have, or None (escape)."""

    DEFAULT_CSS = _CSS
    AUTO_FOCUS = "#count"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, program: str, current: int) -> None:
        super().__init__()
        self.program = program
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"scale {self.program} (now {self.current} instances) to:")
            yield Input(str(self.current), id="count", type="integer")
            yield Label("", id="problem")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value.isdigit():
            self.query_one("#problem", Label).update("a whole number >= 0, please")
            return
        self.dismiss(int(value))

    def action_cancel(self) -> None:
        self.dismiss(None)
