"""JSON routes -> Operations; errors -> HTTP statuses. No business logic here.

Each handler parses its input, makes one call on Operations and shapes the reply
from the read model's views (`to_json`, or `json_fields` as the encoder's default) or
the TypedDicts of `wire`. Every route has an entry in `openapi.ROUTES`;
`GET /v1/openapi.json` serves the generated document.
Error mapping: an unknown target is 404, a bad argument or a bad config is 400,
anything else corral raises is 409, and an unexpected exception is a 500 from the
server (the daemon keeps running).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from corral._control.server.event_stream import (
    STREAM_DEFAULTS,
    StreamSettings,
    event_json,
    open_stream,
    resume_point,
)
from corral._control.server.http import (
    MAX_DIGITS,
    HttpError,
    Request,
    Response,
    Router,
    StreamingResponse,
)
from corral._control.wire import (
    API_PREFIX,
    PROMETHEUS_PATH,
    EventsReply,
    HistoryReply,
    InstanceMetricsJSON,
    LogsReply,
    MetricsReply,
    OutcomeJSON,
    OutcomesReply,
    PointJSON,
    ProfileReply,
    ReloadReply,
)
from corral._errors import ConfigError, CorralError, InvalidSpec, UnknownTarget
from corral._observe.events import EventLog
from corral._observe.metrics.prometheus import CONTENT_TYPE as PROMETHEUS_TYPE
from corral._observe.metrics.prometheus import render
from corral._observe.sampling import OFF_LOOP_TREES
from corral._supervisor.operations import Operations
from corral._supervisor.runtime.supervisor import Outcome
from corral._supervisor.view import InstanceView, StatusView, json_fields

Handler = Callable[[Request], Awaitable[Response | StreamingResponse]]
_T = TypeVar("_T")

MAX_TARGETS = 4096
"""Distinct names one request may give (targets, `names=`): more is a 400, since each
costs a lookup on the loop; repeats count once ("all" sent 140,000 times is one "all")."""


def build_router(
    ops: Operations, events: EventLog, streams: StreamSettings = STREAM_DEFAULTS
) -> Router:
    """Every route of the API, bound to one Operations."""
    routes = _Routes(ops, events, streams)
    router = Router()
    table: list[tuple[str, str, Handler, tuple[str, ...]]] = [
        ("GET", "/status", routes.status, ("names",)),
        ("GET", "/metrics", routes.metrics, ("names",)),
        ("GET", "/metrics/{name}/history", routes.history, ()),
        ("GET", "/inspect/{name}", routes.inspect, ()),
        ("GET", "/security/{name}", routes.security, ()),
        ("GET", "/sandbox/{name}/apparmor", routes.apparmor, ()),
        ("GET", "/alerts", routes.alerts, ()),
        ("POST", "/start", routes.start, ()),
        ("POST", "/stop", routes.stop, ()),
        ("POST", "/restart", routes.restart, ()),
        ("POST", "/signal", routes.signal, ()),
        ("POST", "/scale", routes.scale, ()),
        ("GET", "/logs/{name}", routes.logs, ("stream", "lines")),
        ("GET", "/logs/{name}/follow", routes.follow, ("stream",)),
        ("GET", "/events", routes.events, ("since", "follow")),
        ("POST", "/reload", routes.reload, ()),
        ("POST", "/shutdown", routes.shutdown, ()),
    ]
    for method, path, handler, query in table:
        router.add(method, API_PREFIX + path, _translated(handler), query=query)
    router.add("GET", PROMETHEUS_PATH, _translated(routes.prometheus), query=())
    documented: list[tuple[str, str]] = []  # the API's routes; not those added later (web)
    router.add("GET", OPENAPI_PATH, _document(documented), query=())
    documented += router.routes()
    return router


OPENAPI_PATH = API_PREFIX + "/openapi.json"
"""The API's OpenAPI 3.1 document, generated on its first request and then kept."""


def _document(routes: list[tuple[str, str]]) -> Handler:
    """The OpenAPI route of `routes`: built when first asked for, since reading the field
    docstrings parses source files, which a daemon nobody asks costs about 1 MB of
    resident memory."""
    made: list[Response] = []

    async def serve(request: Request) -> Response:
        if not made:
            from corral._control.server import openapi

            made.append(Response.json(openapi.document(routes)))
        return made[0]

    return serve


def _translated(handler: Handler) -> Handler:
    async def call(request: Request) -> Response | StreamingResponse:
        try:
            return await handler(request)
        except UnknownTarget as exc:
            raise HttpError(404, str(exc)) from exc
        except (InvalidSpec, ConfigError) as exc:
            raise HttpError(400, str(exc)) from exc
        except CorralError as exc:
            raise HttpError(409, str(exc)) from exc

    return call


class _Routes:
    def __init__(self, ops: Operations, events: EventLog, streams: StreamSettings) -> None:
        self.ops = ops
        self.event_log = events
        self.streams = streams

    async def status(self, request: Request) -> Response:
        view = await self.ops.status(_names_query(request))
        if len(view.instances) < OFF_LOOP_TREES:
            return _status_reply(view)
        # Encoding a thousand rows takes the loop 20 ms; a worker thread lets it run.
        return await asyncio.to_thread(_status_reply, view)

    async def metrics(self, request: Request) -> Response:
        names = _names_query(request)
        view = self.ops.metrics(names)
        sampler = view.daemon.sampler
        reply = MetricsReply(
            interval=sampler.interval,
            taken_at=sampler.taken_at,
            sample_seconds=sampler.sample_seconds,
            daemon_cpu_percent=sampler.daemon_cpu_percent,
            daemon_memory_rss=sampler.daemon_memory_rss,
            instances=[_metrics_row(v) for v in view.instances],
        )
        return Response.json(reply)

    async def history(self, request: Request) -> Response:
        name = request.params["name"]
        points = [cast(PointJSON, dataclasses.asdict(p)) for p in self.ops.history(name)]
        return Response.json(HistoryReply(name=name, points=points))

    async def inspect(self, request: Request) -> Response:
        view = await self.ops.inspect(request.params["name"])
        return Response.json(json_fields(view), default=json_fields)

    async def security(self, request: Request) -> Response:
        view = await self.ops.security(request.params["name"])
        return Response.json(json_fields(view), default=json_fields)

    async def apparmor(self, request: Request) -> Response:
        program, profile = self.ops.apparmor_profile(request.params["name"])
        return Response.json(ProfileReply(program=program, profile=profile))

    async def alerts(self, request: Request) -> Response:
        return Response.json(json_fields(self.ops.alerts()), default=json_fields)

    async def prometheus(self, request: Request) -> Response:
        text = render(self.ops.prometheus())
        return Response(status=200, body=text.encode(), content_type=PROMETHEUS_TYPE)

    async def start(self, request: Request) -> Response:
        return _outcomes(await self.ops.start(_targets(request)))

    async def stop(self, request: Request) -> Response:
        return _outcomes(await self.ops.stop(_targets(request)))

    async def restart(self, request: Request) -> Response:
        rolling = _object(request).get("rolling", False)
        if not isinstance(rolling, bool):
            raise HttpError(400, "'rolling' must be true or false")
        return _outcomes(await self.ops.restart(_targets(request), rolling=rolling))

    async def signal(self, request: Request) -> Response:
        body = _object(request)
        sig = body.get("signal")
        if not isinstance(sig, str):
            raise HttpError(400, "body needs 'signal': a signal name such as HUP")
        return _outcomes(self.ops.signal(sig, _targets(request)))

    async def scale(self, request: Request) -> Response:
        body = _object(request)
        program, count = body.get("program"), body.get("count")
        if not isinstance(program, str):
            raise HttpError(400, "body needs 'program': the name of one program")
        if not isinstance(count, int) or isinstance(count, bool):
            raise HttpError(400, "body needs 'count': a whole number of instances")
        return _outcomes(await self.ops.scale(program, count))

    async def logs(self, request: Request) -> Response:
        name = request.params["name"]
        stream = request.query.get("stream", "stdout")
        count = _int_query(request, "lines", 20)
        lines = self.ops.logs(name, lines=count, stream=stream)
        text = [line.decode("utf-8", "replace") for line in lines]
        return Response.json(LogsReply(name=name, stream=stream, lines=text))

    async def follow(self, request: Request) -> StreamingResponse:
        name = request.params["name"]
        stream = request.query.get("stream", "stdout")
        chunks = self.ops.follow(name, stream=stream)
        return StreamingResponse(status=200, content_type="text/plain", body=chunks)

    async def events(self, request: Request) -> Response | StreamingResponse:
        if _int_query(request, "follow", 0):
            return open_stream(self.event_log, request, self.streams)
        since = resume_point(request, 0)
        rows = [event_json(e) for e in self.event_log.since(since)]
        return Response.json(EventsReply(events=rows, last_seq=self.event_log.last_seq))

    async def reload(self, request: Request) -> Response:
        report = await self.ops.reload()
        return Response.json(
            ReloadReply(
                added=list(report.added),
                removed=list(report.removed),
                changed=list(report.changed),
                unchanged=list(report.unchanged),
                notes=list(report.notes),
            )
        )

    async def shutdown(self, request: Request) -> Response:
        self.ops.shutdown()
        return Response.json({"ok": True}, status=202)


def _status_reply(view: StatusView) -> Response:
    """`to_json(view)` as the reply, each instance's dict made only as its slice is encoded."""
    return Response.json(json_fields(view), default=json_fields)


def _object(request: Request) -> dict[str, object]:
    body = request.json() if request.body else {}
    if not isinstance(body, dict):
        raise HttpError(400, "request body must be a JSON object")
    return body


def _targets(request: Request) -> list[str]:
    targets = _object(request).get("targets")
    try:  # repeats dropped before the type check: 140,000 "all" are checked once
        distinct = _distinct("'targets'", targets) if isinstance(targets, list) else None
    except TypeError:  # an unhashable item: a list or an object
        distinct = None
    if distinct is None or not all(isinstance(t, str) for t in distinct):
        raise HttpError(400, "body needs 'targets': a list of names (web:0, web, all)")
    return cast(list[str], distinct)


def _names_query(request: Request) -> list[str]:
    names = request.query.get("names", "").split(",")
    return _distinct("query names", [n for n in names if n])


def _distinct(what: str, names: list[_T]) -> list[_T]:
    """`names` with repeats dropped (first kept); more than MAX_TARGETS distinct is a 400."""
    distinct = list(dict.fromkeys(names))
    if len(distinct) > MAX_TARGETS:
        message = f"too many targets: {what} holds {len(distinct)} distinct names"
        message += f"; at most {MAX_TARGETS}"
        raise HttpError(400, message)
    return distinct


def _int_query(request: Request, key: str, default: int) -> int:
    raw = request.query.get(key)
    if raw is None:
        return default
    if not (raw.isascii() and raw.removeprefix("-").isdigit()):  # int() also takes "1_0", "٣"
        raise HttpError(400, f"query {key}={raw!r} must be a whole number")
    if len(raw) > MAX_DIGITS:
        raise HttpError(400, f"query {key} has {len(raw)} digits; at most {MAX_DIGITS}")
    value = int(raw)
    if value < 0:
        raise HttpError(400, f"query {key} must be >= 0")
    return value


def _metrics_row(view: InstanceView) -> InstanceMetricsJSON:
    sample = view.sample
    return InstanceMetricsJSON(
        name=view.name,
        program=view.program,
        state=view.state,
        cpu_percent=None if sample is None else sample.cpu_percent,
        cpu_seconds=None if sample is None else sample.cpu_seconds,
        memory_rss=None if sample is None else sample.memory_rss,
        processes=None if sample is None else sample.processes,
    )


def _outcomes(outcomes: list[Outcome]) -> Response:
    rows = [OutcomeJSON(name=o.name, ok=o.ok, state=o.state, message=o.message) for o in outcomes]
    return Response.json(OutcomesReply(results=rows))
