"""LogWatcher: an alert rule's eye on one instance stream, fed like a `logs -f` follower.

The driver's output pump hands every chunk it reads to its followers after the log
file has it; a watcher is one of them, but keeps nothing: it runs the stream's
patterns over the chunk (`LogMatcher`) and reports matches at once. Imported only
by a daemon whose config has a log rule (the follower module is on demand).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from corral._observe.alerts.logmatch import LogMatcher
from corral._observe.logs.follower import LogFollower

Matched = Callable[[int, str], None]
"""Told (rule id, matched line) for each rule with a match in a chunk."""


class LogWatcher(LogFollower):
    """A follower that matches instead of queueing: never cut off, never holds a chunk."""

    __slots__ = ("_matched", "_matcher")

    def __init__(self, patterns: Sequence[tuple[int, str]], matched: Matched) -> None:
        super().__init__()
        self._matcher = LogMatcher(patterns)
        self._matched = matched

    def offer(self, chunk: bytes) -> bool:
        """Match `chunk` (the log file has it already); always True: it keeps nothing."""
        for rid, line in self._matcher.feed(chunk):
            self._matched(rid, line)
        return True

    def end(self) -> None:
        """The instance's logs closed: a last line without a newline is matched too."""
        for rid, line in self._matcher.flush():
            self._matched(rid, line)
        super().end()
