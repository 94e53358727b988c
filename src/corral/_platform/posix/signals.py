"""Signal names and numbers: "TERM", "SIGTERM", "term" and 15 all mean SIGTERM."""

from __future__ import annotations

import signal

from corral._errors import InvalidSpec

_BY_NAME: dict[str, signal.Signals] = {sig.name: sig for sig in signal.Signals}


def parse_signal(value: str | int) -> signal.Signals:
    """The signal a user named, or InvalidSpec with a "did you mean"."""
    if isinstance(value, int):
        try:
            return signal.Signals(value)
        except ValueError:
            raise InvalidSpec(f"unknown signal number {value}") from None
    name = value.strip().upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    found = _BY_NAME.get(name)
    if found is not None:
        return found
    # Compare without the shared "SIG", which would make any name look close to some signal.
    bare = [known.removeprefix("SIG") for known in _BY_NAME]
    import difflib  # only for a bad name: a running daemon need not hold it (130 KiB)

    close = difflib.get_close_matches(name.removeprefix("SIG"), bare, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise InvalidSpec(f"unknown signal name {value!r}{hint}")


def signal_name(number: int) -> str:
    """The name of a signal number ("SIGKILL"), or "signal N" for an unnamed one."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
