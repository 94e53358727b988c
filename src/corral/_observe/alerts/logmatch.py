"""LogMatcher: finds alert rule patterns in one instance stream's output, chunk by chunk.

Pure: it is handed the chunks the log capture reads and returns the rules that
matched, with the line. Lines are what a pattern sees (`^` and `$` anchor at line
ends): the part of a chunk after its last newline is kept and joined to the next
chunk, so a line split between two reads is still seen whole; a partial line
longer than `CARRY_MAX` is cut to its last `CARRY_MAX` bytes. Each rule is
searched once per chunk, so a flood of matching lines costs one search per read
per rule, and the rule counts one occurrence per read.

Cost: a pattern is first looked for by a literal it cannot match without (`ERROR` in
`^ERROR .*`), and the regex runs only on a chunk that holds it. The literal is found
by one of its bytes, the one likeliest to be rare in a log (an upper-case letter
before a digit before a lower-case one: `memchr`, about 10x quicker than a
multi-byte `bytes.find` here), each hit checked in place; after `HITS_CHECKED`
false hits the regex decides. Chunks are searched in place (no copy) but for the
line joined to the carry (bench/alert_logs.py measures it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

HITS_CHECKED = 8
"""False hits of a literal's anchor byte checked in a chunk before the regex decides."""
_COMMON = b"etaoinsrhldcu :-/.=,_"
"""Bytes frequent in logs, most frequent first: the last choices for an anchor."""
_SPECIAL = frozenset(".^$*+?{}[]\\|()")
_OPTIONAL = frozenset("*?{")

CARRY_MAX = 4096
"""Bytes of a partial line kept for the next chunk."""
LINE_SHOWN = 200
"""Characters of a matched line kept for the alert (its payload and `corral alerts`)."""


class LogMatcher:
    """The log rules of one stream of one instance, with the partial line between reads."""

    __slots__ = ("_carry", "_patterns")

    def __init__(self, patterns: Sequence[tuple[int, str]]) -> None:
        """`patterns`: (rule id, regular expression) of each rule watching this stream."""
        self._patterns = [
            (rid, re.compile(p.encode(), re.MULTILINE), _Literal.of(required_literal(p)))
            for rid, p in patterns
        ]
        self._carry = b""

    def feed(self, chunk: bytes) -> list[tuple[int, str]]:
        """(rule id, matched line) for each rule with a match in the complete lines so far."""
        end = chunk.rfind(b"\n")
        if end < 0:
            self._carry = (self._carry + chunk)[-CARRY_MAX:]
            return []
        start = 0
        head = b""
        if self._carry:  # the carried partial line, completed by the chunk's first line
            first = chunk.find(b"\n")
            head, start = self._carry + chunk[:first], first + 1
        self._carry = chunk[end + 1 :][-CARRY_MAX:]
        found = []
        for rid, pattern, literal in self._patterns:
            line = _search(pattern, literal, head, 0, len(head)) if head else None
            if line is None and start < end:
                if literal is not None and literal.absent(chunk, start, end):
                    continue  # the common case, kept short: no match in this chunk
                line = _search(pattern, None, chunk, start, end)
            if line is not None:
                found.append((rid, line))
        return found

    def flush(self) -> list[tuple[int, str]]:
        """At EOF: the last line, if it had no newline."""
        if not self._carry:
            return []
        return self.feed(b"\n")


def required_literal(pattern: str) -> bytes | None:
    """A run of 3+ plain characters every match of `pattern` holds, when that is plain to
    see: no groups, alternatives or flags, and no quantifier on the run's characters."""
    if any(c in pattern for c in "|()\\"):
        return None
    best, run = "", ""
    for i, char in enumerate(pattern):
        following = pattern[i + 1] if i + 1 < len(pattern) else ""
        if char in _SPECIAL or following in _OPTIONAL:
            best, run = max(best, run, key=len), ""
        else:
            run += char
    best = max(best, run, key=len)
    return best.encode() if len(best) >= 3 else None


class _Literal:
    """A literal found by its rarest-looking byte (the anchor), each hit checked in place."""

    __slots__ = ("anchor", "at", "text")

    def __init__(self, text: bytes) -> None:
        self.text = text
        rank = [(_COMMON.find(text[i : i + 1]), _kind(text[i]), i) for i in range(len(text))]
        self.at = min(rank, key=lambda r: (r[0], r[1]))[2]
        """The anchor's offset in the literal."""
        self.anchor = text[self.at : self.at + 1]

    @classmethod
    def of(cls, text: bytes | None) -> _Literal | None:
        return None if text is None else cls(text)

    def absent(self, text: bytes, start: int, end: int) -> bool:
        """True when `text[start:end]` surely lacks the literal (False: it may hold it)."""
        literal, at, size = self.text, self.at, len(self.text)
        hit = text.find(self.anchor, start + at, end)
        for _ in range(HITS_CHECKED):
            if hit < 0:
                return True
            begin = hit - at
            if begin + size <= end and text.startswith(literal, begin):
                return False
            hit = text.find(self.anchor, hit + 1, end)
        return hit < 0


def _kind(byte: int) -> int:
    """Upper-case letters first, then digits and punctuation, then lower-case letters."""
    return 0 if 65 <= byte <= 90 else 2 if 97 <= byte <= 122 else 1


def _search(
    pattern: re.Pattern[bytes], literal: _Literal | None, text: bytes, start: int, end: int
) -> str | None:
    if start >= end or (literal is not None and literal.absent(text, start, end)):
        return None
    match = pattern.search(text, start, end)
    return None if match is None else _line(text, match.start(), end)


def _line(text: bytes, at: int, end: int | None = None) -> str:
    limit = len(text) if end is None else end
    start = text.rfind(b"\n", 0, at) + 1
    stop = text.find(b"\n", at, limit)
    line = text[start : stop if stop >= 0 else limit]
    return line.decode("utf-8", "replace")[:LINE_SHOWN]
