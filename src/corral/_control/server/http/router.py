"""Method + path pattern -> handler: the explicit route table the server dispatches on."""

from __future__ import annotations

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

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register `handler` for `method` on `pattern`; each pair may be added once."""
        if not pattern.startswith("/"):
            raise InvalidSpec(f"route pattern {pattern!r} must start with '/'")
        _, methods = self._routes.setdefault(pattern, (tuple(pattern.split("/")[1:]), {}))
        if method.upper() in methods:
            raise InvalidSpec(f"route {method.upper()} {pattern} is already registered")
        methods[method.upper()] = handler

    def routes(self) -> list[tuple[str, str]]:
        """Every (method, pattern) registered, in the order the patterns were added."""
        return [(m, pattern) for pattern, (_, methods) in self._routes.items() for m in methods]

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler and params for a request; 404 if no pattern fits, 405 with Allow."""
        segments = path.split("/")[1:]
        matches = sorted(
            (
                (params, methods)
                for pattern, methods in self._routes.values()
                if (params := _match(pattern, segments)) is not None
            ),
            key=lambda match: len(match[0]),  # literal segments win over {params}
        )
        if not matches:
            raise HttpError(404, f"no route for {path}")
        for params, methods in matches:
            if method in methods:
                return methods[method], params
        allow = ", ".join(sorted({name for _, methods in matches for name in methods}))
        message = f"{method} is not allowed on {path} (allowed: {allow})"
        raise HttpError(405, message, headers=(("allow", allow),))

    async def dispatch(self, request: Request) -> Response | StreamingResponse:
        """Call the matching handler with the route params filled in."""
        handler, params = self.resolve(request.method, request.path)
        return await handler(replace(request, params=params))


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
