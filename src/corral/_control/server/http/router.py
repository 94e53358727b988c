"""Method + path pattern -> handler: the explicit route table the server dispatches on."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from urllib.parse import unquote

from corral._control.server.http.messages import (
    Handler,
    HttpError,
    Request,
    Response,
    StreamingResponse,
)
from corral._errors import InvalidSpec


class Router:
    """Maps method + path pattern (`/v1/instances/{name}`) to a handler; explicit, no magic."""

    def __init__(self) -> None:
        self._routes: dict[str, tuple[tuple[str, ...], dict[str, Handler]]] = {}
        self._query: dict[tuple[str, str], frozenset[str] | None] = {}
        """The query parameters each (method, pattern) takes: any other is a 400 (None:
        the route reads what it likes and none is refused)."""

    def add(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        *,
        query: Collection[str] | None = None,
    ) -> None:
        """Register `handler` for `method` on `pattern`; each pair may be added once.

        With `query`, the route takes those query parameters and a request with any other
        is a 400; without, none is refused.
        """
        if not pattern.startswith("/"):
            raise InvalidSpec(f"route pattern {pattern!r} must start with '/'")
        _, methods = self._routes.setdefault(pattern, (tuple(pattern.split("/")[1:]), {}))
        if method.upper() in methods:
            raise InvalidSpec(f"route {method.upper()} {pattern} is already registered")
        methods[method.upper()] = handler
        self._query[method.upper(), pattern] = None if query is None else frozenset(query)

    def query(self, method: str, pattern: str) -> frozenset[str] | None:
        """The query parameters a route takes; None if it was registered without a list."""
        return self._query[method, pattern]

    def routes(self) -> list[tuple[str, str]]:
        """Every (method, pattern) registered, in the order the patterns were added."""
        return [(m, pattern) for pattern, (_, methods) in self._routes.items() for m in methods]

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler and params for a request; 404 if no pattern fits, 405 with Allow."""
        handler, params, _ = self._resolve(method, path)
        return handler, params

    def _resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str], str]:
        segments = path.split("/")[1:]
        matches = sorted(
            (
                (params, methods, key)
                for key, (pattern, methods) in self._routes.items()
                if (params := _match(pattern, segments)) is not None
            ),
            key=lambda match: len(match[0]),  # literal segments win over {params}
        )
        if not matches:
            raise HttpError(404, f"no route for {path}")
        for params, methods, key in matches:
            if method in methods:
                return methods[method], params, key
        allow = ", ".join(sorted({name for _, methods, _ in matches for name in methods}))
        message = f"{method} is not allowed on {path} (allowed: {allow})"
        raise HttpError(405, message, headers=(("allow", allow),))

    async def dispatch(self, request: Request) -> Response | StreamingResponse:
        """Call the matching handler with the route params filled in."""
        handler, params, pattern = self._resolve(request.method, request.path)
        if request.query and (takes := self._query[request.method, pattern]) is not None:
            _check_query(request, takes)
        return await handler(replace(request, params=params))


def _check_query(request: Request, takes: frozenset[str]) -> None:
    """A 400 naming the first query parameter the route does not take (a typo such as
    `target=` for `names=` would otherwise be ignored, and the reply be about all)."""
    for name in request.query:
        if name not in takes:
            known = ", ".join(sorted(takes)) if takes else "none"
            message = f"unknown query parameter {name!r} for {request.method} {request.path}"
            raise HttpError(400, f"{message}; it takes: {known}")


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    params: dict[str, str] = {}
    for want, got in zip(pattern, segments, strict=True):
        if want.startswith("{") and want.endswith("}") and got:
            params[want[1:-1]] = unquote(got)
        elif want != got:
            return None
    return params
