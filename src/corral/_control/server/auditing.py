"""Which HTTP replies go to the audit log, and what their record says.

Recorded: every request whose method can change something (anything but GET and
HEAD: start, stop, restart, signal, reload, shutdown and any POST added later),
whatever its outcome, and every request refused for its token (401) whatever its
method. The record's `who` is the request's peer, `what` its method, path, targets
and signal, `result` the status with the instances that succeeded and failed, or
the error message. Long lists and texts are cut, so one request writes one bounded
line (a request naming 1,000 targets writes the first 100 and the count; a body over
64 KiB is not parsed a second time, its size is recorded instead).
"""

from __future__ import annotations

import json

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


def audit_observer(log: AuditLog) -> Observer:
    """An HttpServer observer that records the replies this module names in `log`."""

    def observe(request: Request, response: Response | StreamingResponse) -> None:
        if request.method in SAFE_METHODS and response.status != 401:
            return
        log.record(request.peer.to_json(), _what(request), _result(response))

    return observe


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
