"""LogMatcher: finds alert rule patterns in one instance stream's output, chunk by chunk.

Pure: it is handed the chunks the log capture reads and returns the rules that
matched, with the line. Lines are what a pattern sees (`^` and `$` anchor at line
ends): the part of a chunk after its last newline is kept and joined to the next
chunk, so a line split between two reads is still seen whole; a partial line
longer than `CARRY_MAX` is cut to its last `CARRY_MAX` bytes. Each rule is
searched once per chunk, so a flood of matching lines costs one search per read
per rule, and the rule counts one occurrence per read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

CARRY_MAX = 4096
"""Bytes of a partial line kept for the next chunk."""
LINE_SHOWN = 200
"""Characters of a matched line kept for the alert (its payload and `corral alerts`)."""


class LogMatcher:
    """The log rules of one stream of one instance, with the partial line between reads."""

    __slots__ = ("_carry", "_patterns")

    def __init__(self, patterns: Sequence[tuple[int, str]]) -> None:
        """`patterns`: (rule id, regular expression) of each rule watching this stream."""
        self._patterns = [(rid, re.compile(p.encode(), re.MULTILINE)) for rid, p in patterns]
        self._carry = b""

    def feed(self, chunk: bytes) -> list[tuple[int, str]]:
        """(rule id, matched line) for each rule with a match in the complete lines so far."""
        end = chunk.rfind(b"\n")
        if end < 0:
            self._carry = (self._carry + chunk)[-CARRY_MAX:]
            return []
        text = self._carry + chunk[:end] if self._carry else chunk[:end]
        self._carry = chunk[end + 1 :][-CARRY_MAX:]
        found = []
        for rid, pattern in self._patterns:
            match = pattern.search(text)
            if match is not None:
                found.append((rid, _line(text, match.start())))
        return found

    def flush(self) -> list[tuple[int, str]]:
        """At EOF: the last line, if it had no newline."""
        if not self._carry:
            return []
        return self.feed(b"\n")


def _line(text: bytes, at: int) -> str:
    start = text.rfind(b"\n", 0, at) + 1
    stop = text.find(b"\n", at)
    line = text[start : stop if stop >= 0 else len(text)]
    return line.decode("utf-8", "replace")[:LINE_SHOWN]
