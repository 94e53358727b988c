"""GET /v1/openapi.json: a valid OpenAPI 3.1 document of every route, and the API holds to it.

The fuzz test points schemathesis (a property-based API fuzzer) at every route of a
real daemon over its TCP listener, positive and negative inputs, a bounded number of
examples each. No reply may be a 5xx or break its own schema; afterwards the daemon
still answers, every instance is in a known state, and every process the daemon has
is in the tree of an instance it tracks. POST /v1/shutdown goes last, once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from corral._control.server import openapi
from corral._lifecycle.states import InstanceState
from tests.support.daemon import SLEEP_FOREVER, Daemon, helper, running_daemon
from tests.support.waiting import wait_until

TOKEN = "fuzz-token-0123456789"
EXAMPLES = 15
"""Generated requests per route and mode: enough to find the classic breaks, bounded."""

PROGRAMS = f"""
[programs.web]
command = {SLEEP_FOREVER}
numprocs = 2
start_seconds = 0

[programs.forker]
command = {helper("double_fork")}
start_seconds = 0

[programs.chatty]
command = {helper("echo_lines", "hello", "world")}
start_seconds = 0
restart = "never"
"""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SHUTDOWN = ("POST", "/v1/shutdown")


def _daemon_keys(tmp_path: Path) -> str:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    os.chmod(token, 0o600)
    return f"http_listen = '127.0.0.1:0'\nhttp_token_file = '{token}'\n"


def _tcp_port(daemon: Daemon) -> int:
    prefix = "listening on http://127.0.0.1:"
    messages = [str(e["data"].get("message", "")) for e in daemon.events("daemon")]
    return int(next(m for m in messages if m.startswith(prefix)).removeprefix(prefix))


def test_the_document_is_valid_openapi_and_names_exactly_the_routes(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        document = daemon.call("GET", "/openapi.json")
    validate(document)  # openapi-spec-validator: OpenAPI 3.1 and JSON Schema 2020-12
    assert document["openapi"] == "3.1.0"
    served = {(m.upper(), path) for path, item in document["paths"].items() for m in item}
    assert served == set(openapi.ROUTES)
    status = document["components"]["schemas"]["InstanceView"]
    assert status["properties"]["restarts"] == {
        "type": "integer",
        "description": "Automatic restarts so far.",
    }
    assert status["additionalProperties"] is False
    events = document["paths"]["/v1/events"]["get"]
    assert {(p["name"], p["in"]) for p in events["parameters"]} == {
        ("since", "query"),
        ("follow", "query"),
        ("metrics", "query"),
        ("Last-Event-ID", "header"),
    }
    assert set(events["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}


def test_fuzzing_every_route_finds_no_server_error_and_no_reply_off_its_schema(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, PROGRAMS, _daemon_keys(tmp_path)) as daemon:
        base = f"http://127.0.0.1:{_tcp_port(daemon)}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        document = daemon.call("GET", "/openapi.json")
        schema = schemathesis.openapi.from_dict(document)
        results = list(schema.get_all_operations())
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        assert len(operations) == len(openapi.ROUTES)
        failures: list[str] = []
        for operation in operations:
            if (operation.method.upper(), operation.path) == SHUTDOWN:
                continue
            doc = openapi.ROUTES[(operation.method.upper(), operation.path)]
            for mode in (
                schemathesis.GenerationMode.POSITIVE,
                schemathesis.GenerationMode.NEGATIVE,
            ):
                try:
                    _fuzz(operation, mode, base, headers, doc=doc)
                except Exception as exc:  # collected: one report names every broken route
                    name = f"{operation.method.upper()} {operation.path} ({mode})"
                    failures.append(f"{name}: {_describe(exc)}")
        assert not failures, "\n\n".join(failures)
        _assert_sound(daemon)
        shutdown = next(op for op in operations if (op.method.upper(), op.path) == SHUTDOWN)
        shutdown.Case().call_and_validate(base_url=base, headers=headers, checks=CHECKS)


def _describe(exc: BaseException) -> str:
    """The failure and, for a group (schemathesis, Hypothesis's flaky report), each inside."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, BaseExceptionGroup):
        text += "".join(f"\n  - {_describe(inner)}" for inner in exc.exceptions)
    return text


def _fuzz(
    operation: Any,
    mode: schemathesis.GenerationMode,
    base: str,
    headers: dict[str, str],
    *,
    doc: openapi.RouteDoc,
) -> None:
    checks = [*CHECKS, negative_data_rejection] if mode.is_negative else CHECKS

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is shown
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        if doc.streaming:
            _call_streaming(case, base, headers, "text/plain")
        elif doc.follows is not None and _follows(case):
            _call_streaming(case, base, headers, doc.follows)
        else:
            case.call_and_validate(base_url=base, headers=headers, checks=checks, timeout=60)

    try:
        run()
    except Unsatisfiable:  # no input breaks this route's schema (a path parameter only)
        assert mode.is_negative


def _follows(case: Any) -> bool:
    """The case asks a route that can follow to stream: a non-zero whole `follow`."""
    value = str((case.query or {}).get("follow", "0"))
    return value.isascii() and value.isdigit() and int(value) != 0


def _call_streaming(case: Any, base: str, headers: dict[str, str], content_type: str) -> None:
    """A streaming reply never ends by itself: check its head, then hang up."""
    kwargs = case.as_transport_kwargs(base_url=base, headers=headers)
    with requests.request(**kwargs, stream=True, timeout=60) as response:
        assert response.status_code < 500, response.status_code
        if response.status_code == 200:
            assert response.headers["content-type"].startswith(content_type)
        else:
            assert response.json()["error"]["status"] == response.status_code


def _assert_sound(daemon: Daemon) -> None:
    """The daemon answers, its instances are in known states, it runs nothing untracked."""
    rows = daemon.status()
    assert {row["state"] for row in rows.values()} <= {s.value for s in InstanceState}
    assert daemon.process is not None

    def untracked() -> list[int]:
        view = daemon.call("GET", "/status")["instances"]
        trees = [row["tree"] for row in view if row["tree"] is not None]
        markers = {tree["marker"].encode() for tree in trees}
        groups = {tree["pgid"] for tree in trees}
        return [
            pid
            for pid in _descendants(daemon.process.pid)  # type: ignore[union-attr]
            if _pgid(pid) not in groups and not markers & _environment(pid)
        ]

    wait_until(lambda: untracked() == [], what="every process of the daemon in a tracked tree")


def _descendants(root: int) -> list[int]:
    """Live descendants of `root` (a test may read /proc; the source may not)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] != "Z":
                parents[int(entry)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _environment(pid: int) -> set[bytes]:
    try:
        return set(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
    except OSError:
        return set()
