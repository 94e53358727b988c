"""The OpenAPI 3.1 document of the API, generated from the route table and the wire types.

`document(routes)` walks the router's (method, pattern) pairs; each must have an entry
in `ROUTES` (a route without one raises, so the document cannot fall behind the
router). Reply and request shapes are the read model's records and wire's
TypedDicts, turned into JSON Schema 2020-12 from their annotations; their attribute
docstrings become the descriptions. Replies are closed objects (additionalProperties
false), so a field the server adds without a type here breaks the API tests.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from corral._control.wire import (
    API_PREFIX,
    PROMETHEUS_PATH,
    AcceptedReply,
    AlertsReply,
    ErrorReply,
    EventsReply,
    HistoryReply,
    InspectReply,
    LogsReply,
    MetricsReply,
    OutcomesReply,
    ProfileReply,
    ReloadReply,
    RestartRequest,
    ScaleRequest,
    SecurityReply,
    SignalRequest,
    StatusReply,
    TargetsRequest,
)
from corral._docstrings import attribute_docs
from corral._errors import InvalidSpec
from corral._observe.metrics.prometheus import CONTENT_TYPE as PROMETHEUS_TYPE
from corral._supervisor.view import View
from corral._version import VERSION

Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Param:
    """One query or path parameter."""

    name: str
    description: str
    schema: Schema
    where: str = "query"
    """Where it is sent: "query" or "header"."""


@dataclass(frozen=True, slots=True)
class RouteDoc:
    """What the document says about one route."""

    summary: str
    reply: object
    """The reply body's type, or a content type string for a non-JSON body."""
    status: int = 200
    query: tuple[Param, ...] = ()
    body: type | None = None
    """The JSON request body's type; None when the route takes none."""
    example: object = None
    """An example request body (the fuzz test sends it first)."""
    streaming: bool = False
    """The body is sent while it is produced and does not end by itself."""
    follows: str | None = None
    """With a non-zero `follow` query, the reply is streamed instead, as this content
    type, and does not end by itself."""


_NAMES = Param("names", "Comma-separated instances or programs (web:0,db); all if absent.",
               {"type": "string"})  # fmt: skip
_STREAM = Param("stream", "Which output stream.", {"enum": ["stdout", "stderr"]})
_TARGET = "An instance (web:0), or a program with one instance."
_INSTANCE = {"instance": {"value": "web:0"}}

ROUTES: dict[tuple[str, str], RouteDoc] = {
    ("GET", f"{API_PREFIX}/status"): RouteDoc(
        "The daemon and its instances, with usage read now.", StatusReply, query=(_NAMES,)
    ),
    ("GET", f"{API_PREFIX}/metrics"): RouteDoc(
        "The sampler's last tick for each instance.", MetricsReply, query=(_NAMES,)
    ),
    ("GET", f"{API_PREFIX}/metrics/{{name}}/history"): RouteDoc(
        "Every kept sample of one instance, oldest first.", HistoryReply
    ),
    ("GET", f"{API_PREFIX}/inspect/{{name}}"): RouteDoc(
        "One snapshot of an instance's process tree: each member's identity, open fds "
        "and sockets, limits, namespaces, cgroups, capabilities and environment "
        "(secret-looking values masked).",
        InspectReply,
    ),
    ("GET", f"{API_PREFIX}/security/{{name}}"): RouteDoc(
        "How exposed an instance is: each way out of its sandbox, open or closed, with "
        "its weight and the key that closes it, read from the live process where the "
        "kernel shows it; and a score from 0 (closed) to 10.",
        SecurityReply,
    ),
    ("GET", f"{API_PREFIX}/sandbox/{{name}}/apparmor"): RouteDoc(
        "An AppArmor profile derived from a program's sandbox spec (name a program or "
        "one of its instances).",
        ProfileReply,
    ),
    ("GET", f"{API_PREFIX}/alerts"): RouteDoc(
        "The alerts firing now (rule, instance, since, last value), and how their actions "
        "have fared (webhooks delivered and failed, commands, restarts refused).",
        AlertsReply,
    ),
    ("POST", f"{API_PREFIX}/start"): RouteDoc(
        "Start; replies when each instance is RUNNING or has failed.",
        OutcomesReply,
        body=TargetsRequest,
        example={"targets": ["web:0"]},
    ),
    ("POST", f"{API_PREFIX}/stop"): RouteDoc(
        "Stop; replies when each instance's whole process tree is gone.",
        OutcomesReply,
        body=TargetsRequest,
        example={"targets": ["web:0"]},
    ),
    ("POST", f"{API_PREFIX}/restart"): RouteDoc(
        "Stop, then start; with `rolling`, a few instances at a time.",
        OutcomesReply,
        body=RestartRequest,
        example={"targets": ["web"], "rolling": True},
    ),
    ("POST", f"{API_PREFIX}/signal"): RouteDoc(
        "Send a signal to each instance's process group.",
        OutcomesReply,
        body=SignalRequest,
        example={"signal": "HUP", "targets": ["web:1"]},
    ),
    ("POST", f"{API_PREFIX}/scale"): RouteDoc(
        "Run `count` instances of one program (1 to 10000): new ones are started, the "
        "highest-numbered stopped; kept across a reload that leaves numprocs as it was.",
        OutcomesReply,
        body=ScaleRequest,
        example={"program": "web", "count": 2},
    ),
    ("GET", f"{API_PREFIX}/logs/{{name}}"): RouteDoc(
        "The last lines of an instance's log.",
        LogsReply,
        query=(_STREAM, Param("lines", "How many lines.", {"type": "integer", "minimum": 0})),
    ),
    ("GET", f"{API_PREFIX}/logs/{{name}}/follow"): RouteDoc(
        "New output of an instance as it is written (chunked, until the client hangs up).",
        "text/plain",
        query=(_STREAM,),
        streaming=True,
    ),
    ("GET", f"{API_PREFIX}/events"): RouteDoc(
        "Events newer than `since`, oldest first; with `follow=1`, as they happen (SSE).",
        EventsReply,
        query=(
            Param("since", "The last seq already seen.", {"type": "integer", "minimum": 0}),
            Param(
                "follow",
                "Non-zero: stream the events as Server-Sent Events (text/event-stream), "
                "each with its seq as id, a `gap` event where the ring lost some, until "
                "the client hangs up.",
                {"type": "integer", "minimum": 0},
            ),
            Param(
                "Last-Event-ID",
                "The last seq already seen, in place of `since` (what an SSE client sends when "
                "it reconnects).",
                {"type": "string", "pattern": "^[0-9]+$"},
                where="header",
            ),
        ),
        follows="text/event-stream",
    ),
    ("POST", f"{API_PREFIX}/reload"): RouteDoc(
        "Re-read the config file and apply the difference.", ReloadReply
    ),
    ("POST", f"{API_PREFIX}/shutdown"): RouteDoc(
        "Stop every program and exit (replies at once).", AcceptedReply, status=202
    ),
    ("GET", f"{API_PREFIX}/openapi.json"): RouteDoc("This document.", "application/json"),
    ("GET", PROMETHEUS_PATH): RouteDoc("Metrics in the Prometheus text format.", PROMETHEUS_TYPE),
}
"""Every route's documentation, keyed by (method, pattern) as the router holds them."""


def document(routes: Iterable[tuple[str, str]]) -> Schema:
    """The OpenAPI 3.1 document of `routes`; InvalidSpec names a route without a doc."""
    components: dict[str, Schema] = {}
    paths: dict[str, dict[str, Schema]] = {}
    for method, pattern in routes:
        doc = ROUTES.get((method, pattern))
        if doc is None:
            raise InvalidSpec(f"route {method} {pattern} has no entry in openapi.ROUTES")
        paths.setdefault(pattern, {})[method.lower()] = _operation(method, pattern, doc, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "corral daemon API",
            "version": VERSION,
            "description": "JSON over HTTP on the daemon's unix socket (0600); with "
            "[daemon] http_listen also on TCP, where every request needs the bearer token.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
    }


def _operation(method: str, pattern: str, doc: RouteDoc, components: dict[str, Schema]) -> Schema:
    params = [
        {"name": p.name, "in": p.where, "required": False, "description": p.description,
         "schema": p.schema}
        for p in doc.query
    ]  # fmt: skip
    params += [
        {"name": segment[1:-1], "in": "path", "required": True, "description": _TARGET,
         "schema": {"type": "string", "minLength": 1}, "examples": _INSTANCE}
        for segment in pattern.split("/") if segment.startswith("{")
    ]  # fmt: skip
    error = {"$ref": "#/components/schemas/ErrorReply"}
    schema_of(ErrorReply, components)
    operation: Schema = {
        "summary": doc.summary,
        "operationId": _operation_id(method, pattern),
        "responses": {
            str(doc.status): _reply(doc, components),
            "4XX": {"description": "Refused", "content": {"application/json": {"schema": error}}},
        },
    }
    if params:
        operation["parameters"] = params
    if doc.body is not None:
        body = schema_of(doc.body, components, closed=False)
        media: Schema = {"schema": body}
        if doc.example is not None:
            media["examples"] = {"example": {"value": doc.example}}
        operation["requestBody"] = {"required": True, "content": {"application/json": media}}
    return operation


def _reply(doc: RouteDoc, components: dict[str, Schema]) -> Schema:
    if isinstance(doc.reply, str):
        media = {"schema": {"type": "object"}} if doc.reply == "application/json" else {}
        text = "Streamed as it is written." if doc.streaming else "The reply."
        return {"description": text, "content": {doc.reply: media}}
    schema = schema_of(doc.reply, components)
    content: Schema = {"application/json": {"schema": schema}}
    if doc.follows is not None:
        content[doc.follows] = {"schema": {"type": "string"}}
    return {"description": "The reply.", "content": content}


def _operation_id(method: str, pattern: str) -> str:
    words = [w.strip("{}").replace(".", "_") for w in pattern.split("/") if w]
    return "_".join([method.lower(), *words])


# -- types -> JSON Schema ---------------------------------------------------------------

_SCALARS: dict[object, Schema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    object: {},
}


def schema_of(hint: object, components: dict[str, Schema], *, closed: bool = True) -> Schema:
    """The JSON Schema of a type hint; records and TypedDicts go to `components`.

    `closed` refuses properties the type does not name (for replies; a request may
    carry more than it needs).
    """
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        options = [schema_of(a, components, closed=closed) for a in args]
        if all(set(o) == {"type"} for o in options):
            return {"type": [o["type"] for o in options]}
        return {"anyOf": options}
    if origin in (list, tuple):
        return {"type": "array", "items": schema_of(args[0], components, closed=closed)}
    if origin is dict:
        return {"type": "object", "additionalProperties": schema_of(args[1], components)}
    if isinstance(hint, type) and (_is_record(hint) or typing.is_typeddict(hint)):
        name = hint.__name__
        if name not in components:
            components[name] = {}  # a placeholder first: recursion stops here
            components[name] = _object_schema(hint, components, closed=closed)
        return {"$ref": f"#/components/schemas/{name}"}
    raise InvalidSpec(f"no JSON Schema for the type {hint!r}")


def _is_record(cls: type) -> bool:
    """A dataclass or a view of the read model."""
    return dataclasses.is_dataclass(cls) or issubclass(cls, View)


def _object_schema(cls: type, components: dict[str, Schema], *, closed: bool) -> Schema:
    hints = typing.get_type_hints(cls)  # Required[...] and NotRequired[...] stripped
    required = getattr(cls, "__required_keys__", hints.keys())  # a TypedDict says which
    if issubclass(cls, View):
        hints = {name: hints[name] for name in cls._fields}
    docs = attribute_docs(cls)
    properties = {}
    for name, hint in hints.items():
        prop = schema_of(hint, components, closed=closed)
        properties[name] = {**prop, "description": docs[name]} if docs.get(name) else prop
    schema: Schema = {
        "type": "object",
        "description": inspect.cleandoc(cls.__doc__ or cls.__name__),
        "properties": properties,
        "required": [name for name in hints if name in required],
    }
    if closed:
        schema["additionalProperties"] = False
    return schema
