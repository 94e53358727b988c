"""The HTTP side of supervisord's interface: POST /RPC2, GET /logtail/..., GET /mainlogtail.

`/RPC2` takes one XML-RPC call per request and always answers 200 with a
methodResponse, a fault for anything refused (supervisord's codes); a body over the
server's size limit is a 413 before it gets here. `/logtail/NAME[/stderr]` sends the
last KiB of a log, then what is written to it, as `supervisorctl tail -f` reads it;
`/mainlogtail` does the same with the daemon's event lines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from corral._control.server.http import HttpError, Request, Response, Router, StreamingResponse
from corral._control.server.supervisord.codec import (
    CONTENT_TYPE,
    decode_call,
    encode_fault,
    encode_result,
)
from corral._control.server.supervisord.faults import Fault, Faults
from corral._control.server.supervisord.methods import Methods
from corral._control.server.supervisord.names import process_name, split_namespec
from corral._control.server.supervisord.ranges import read_bytes, read_range
from corral._errors import CorralError
from corral._observe.events import Event, EventLog
from corral._supervisor.operations import Operations

__all__ = ["add_supervisord_routes"]

_log = logging.getLogger("corral.control.supervisord")

RPC_PATH = "/RPC2"
TAIL_HEAD = 1024
"""Bytes of a log `/logtail` sends before following it (supervisord's figure)."""
MAIN_LOG_QUEUE = 1000
"""Event lines a `/mainlogtail` reader may fall behind by; past that it is cut off."""

EventLine = Callable[[Event], str]
"""One event as a line of the daemon's output (the same text it prints)."""


def add_supervisord_routes(
    router: Router, ops: Operations, events: EventLog, line: EventLine
) -> Methods:
    """Register /RPC2, /logtail and /mainlogtail on `router`; returns the methods."""
    methods = Methods(ops, lambda: _main_log(events, line))
    routes = _Routes(ops, events, line, methods)
    router.add("POST", RPC_PATH, routes.rpc, query=())
    router.add("GET", "/logtail/{name}", routes.logtail, query=())
    router.add("GET", "/logtail/{name}/{stream}", routes.logtail, query=())
    router.add("GET", "/mainlogtail", routes.mainlogtail, query=())
    return methods


def _main_log(events: EventLog, line: EventLine) -> bytes:
    return "".join(line(event) + "\n" for event in events.since(0)).encode()


class _Routes:
    def __init__(
        self, ops: Operations, events: EventLog, line: EventLine, methods: Methods
    ) -> None:
        self.ops, self.events, self.line, self.methods = ops, events, line, methods

    async def rpc(self, request: Request) -> Response:
        try:
            result = await self.methods.call(decode_call(request.body))
            body = encode_result(result)
        except Fault as fault:
            body = encode_fault(fault)
        except (OverflowError, TypeError) as exc:  # a value XML-RPC cannot carry
            body = encode_fault(Fault(Faults.FAILED, f"the result cannot be sent: {exc}"))
        return Response(200, body, content_type=CONTENT_TYPE)

    async def logtail(self, request: Request) -> StreamingResponse:
        namespec, stream = request.params["name"], request.params.get("stream", "stdout")
        if stream not in ("stdout", "stderr"):
            raise HttpError(404, f"no log {stream!r}: stdout or stderr")
        group, process = split_namespec(namespec)
        views = self.ops.snapshot().instances
        found = [v for v in views if v.program == group and process_name(v) == process]
        if not found:
            raise HttpError(404, f"no process {namespec}")
        name = found[0].name
        try:
            head = read_range(self.ops.log_path(name, stream), -TAIL_HEAD, 0)
        except Fault as fault:
            raise HttpError(404, fault.text) from None
        body = _then(head, self.ops.follow(name, stream=stream))
        return StreamingResponse(200, "text/plain;charset=utf-8", body, _NO_BUFFERING)

    async def mainlogtail(self, request: Request) -> StreamingResponse:
        queue: asyncio.Queue[bytes] = asyncio.Queue(MAIN_LOG_QUEUE)

        def put(event: Event) -> None:
            if not queue.full():
                queue.put_nowait((self.line(event) + "\n").encode())

        unsubscribe = self.events.subscribe(put)  # before the head is read: nothing lost
        head = read_bytes(_main_log(self.events, self.line), -TAIL_HEAD, 0)
        return StreamingResponse(
            200, "text/plain;charset=utf-8", _drain(head, queue, unsubscribe), _NO_BUFFERING
        )


_NO_BUFFERING = (("x-accel-buffering", "no"),)


async def _then(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        yield head
        async for chunk in rest:
            yield chunk
    except CorralError as exc:
        _log.debug("log tail ended: %s", exc)
    finally:
        await rest.aclose()  # type: ignore[attr-defined]


async def _drain(
    head: bytes, queue: asyncio.Queue[bytes], unsubscribe: Callable[[], None]
) -> AsyncIterator[bytes]:
    try:
        yield head
        while True:
            yield await queue.get()
    finally:
        unsubscribe()
