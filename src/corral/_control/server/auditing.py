"""Which HTTP replies go to the audit log, and what their record says.

Recorded: every request whose method can change something (anything but GET and
HEAD: start, stop, restart, signal, scale, reload, shutdown and any POST added later),
whatever its outcome, and every request refused for its token (401) whatever its
method. The record's `who` is the request's peer, `what` its method, path, targets,
signal, and a scale's program and count, `result` the status with the instances that
succeeded and failed, or the error message. Long lists and texts are cut, so one request
writes one bounded line (a request naming 1,000 targets writes the first 100 and the
count; a body over 64 KiB is not parsed a second time, its size is recorded instead).

Refusals for the token are what anyone who can reach the TCP port can cause, as fast
as it can connect, so they are recorded at a bounded rate (a burst of REFUSAL_BURST,
then REFUSALS_PER_SECOND): the ones past it are counted, and the next refusal
recorded says how many (`result.unrecorded`). A flood cannot fill the disk.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from corral._control.server.http import Request, Response, StreamingResponse
from corral._control.server.http.messages import Observer
from corral._observe.audit import AuditLog

__all__ = ["audit_observer"]

SAFE_METHODS = frozenset({"GET", "HEAD"})
"""Methods that change nothing: not recorded unless refused for the token."""
_MAX_ITEMS = 100
_MAX_TEXT = 1024
_MAX_PARSED = 64 * 1024
"""A larger request body is not parsed again for the record: its size is recorded instead."""
REFUSAL_BURST = 20
REFUSALS_PER_SECOND = 10.0


def audit_observer(log: AuditLog, clock: Callable[[], float] = time.monotonic) -> Observer:
    """An HttpServer observer that records the replies this module names in `log`."""
    refusals = _Bucket(REFUSAL_BURST, REFUSALS_PER_SECOND, clock)

    def observe(request: Request, response: Response | StreamingResponse) -> None:
        refused = response.status == 401
        if request.method in SAFE_METHODS and not refused:
            return
        result = _result(response)
        if refused:
            if not refusals.take():
                return
            if refusals.dropped:
                result["unrecorded"] = refusals.dropped
                refusals.dropped = 0
        log.record(request.peer.to_json(), _what(request), result)

    return observe


class _Bucket:
    """A token bucket: `take()` is true at most `burst` times at once, `rate` a second after."""

    def __init__(self, burst: int, rate: float, clock: Callable[[], float]) -> None:
        self._burst, self._rate, self._clock = burst, rate, clock
        self._level = float(burst)
        self._at = clock()
        self.dropped = 0
        """Takes refused since the last one granted."""

    def take(self) -> bool:
        now = self._clock()
        self._level = min(self._burst, self._level + (now - self._at) * self._rate)
        self._at = now
        if self._level < 1:
            self.dropped += 1
            return False
        self._level -= 1
        return True


def _what(request: Request) -> dict[str, object]:
    what: dict[str, object] = {"method": request.method, "path": _cut(request.path)}
    if len(request.body) > _MAX_PARSED:
        what["body_bytes"] = len(request.body)
        return what
    body = _json(request.body)
    if isinstance(body, dict):
        targets = body.get("targets")
        if isinstance(targets, list):
            what |= _listed("targets", [_cut(str(target)) for target in targets])
        if isinstance(signal := body.get("signal"), str):
            what["signal"] = _cut(signal)
        if isinstance(program := body.get("program"), str):  # scale
            what["program"] = _cut(program)
        if isinstance(count := body.get("count"), int) and not isinstance(count, bool):
            what["count"] = count if abs(count) < 10**18 else _cut(str(count))
    return what


def _result(response: Response | StreamingResponse) -> dict[str, object]:
    result: dict[str, object] = {"status": response.status}
    body = _json(response.body) if isinstance(response, Response) else None
    if not isinstance(body, dict):
        return result
    if isinstance(error := body.get("error"), dict):
        result["error"] = _cut(str(error.get("message", "")))
    elif isinstance(rows := body.get("results"), list):
        rows = [row for row in rows if isinstance(row, dict)]
        result |= _listed("ok", [str(row.get("name")) for row in rows if row.get("ok")])
        result |= _listed("failed", [str(row.get("name")) for row in rows if not row.get("ok")])
    return result


def _listed(key: str, items: list[str]) -> dict[str, object]:
    """`{key: items}`, or the first _MAX_ITEMS and `{key}_count` when there are more."""
    if len(items) <= _MAX_ITEMS:
        return {key: items}
    return {key: items[:_MAX_ITEMS], f"{key}_count": len(items)}


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."


def _json(data: bytes) -> object:
    if not data:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None
