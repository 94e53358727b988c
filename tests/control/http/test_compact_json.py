"""A JSON reply's body: the bytes `json.dumps` makes, built with a bounded peak of memory.

`compact_json` encodes a top-level object's long lists a slice at a time (CPython 3.11's
encoder holds each token of a document as a string until its end), and with
`default=json_fields` makes each view's dict only when its slice is encoded; the text
must not change for that, whatever the data.
"""

from __future__ import annotations

import json
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral._control.server.http.messages import ROWS_PER_PIECE, Response, compact_json
from corral._supervisor.view import (
    DaemonView,
    InstanceView,
    SamplerView,
    SampleView,
    StatusView,
    TreeView,
    json_fields,
    to_json,
)

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3 * ROWS_PER_PIECE)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text() | st.integers(), inner, max_size=4)
    ),
    max_leaves=60,
)


def _dumps(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


@given(_JSON)
def test_the_bytes_are_those_json_dumps_makes(data: object) -> None:
    assert compact_json(data) == _dumps(data)


_ROW = _SCALARS | st.dictionaries(st.text(), _SCALARS, max_size=3)


@given(st.dictionaries(st.text(), st.lists(_ROW, max_size=5 * ROWS_PER_PIECE), max_size=3))
def test_objects_of_long_lists_too(data: dict[str, list[object]]) -> None:
    assert compact_json(data) == _dumps(data)


def test_a_response_carries_them() -> None:
    data = {"events": [{"seq": n, "kind": "state"} for n in range(100)], "last_seq": 99}
    assert Response.json(data).body == _dumps(data)


def _peak(encode: object, data: object) -> int:
    assert callable(encode)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        encode(data)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_peak_of_a_long_reply_is_a_few_times_its_size_not_ten() -> None:
    rows = [
        {"seq": n, "time": 1.5e9 + n, "kind": "state", "subject": f"web:{n}", "data": {"n": n}}
        for n in range(450)
    ]
    reply = {"events": rows, "last_seq": 450}
    size = len(_dumps(reply))
    assert _peak(_dumps, reply) > 6 * size  # what the whole-document encoder holds
    assert _peak(compact_json, reply) < 3 * size


def _instance(n: int) -> InstanceView:
    return InstanceView(
        name=f"web:{n}",
        program="web",
        state="RUNNING",
        pid=100 + n,
        uptime=1.5,
        restarts=0,
        last_exit=None,
        reason="",
        cpu_seconds=0.25,
        cpu_percent=None,
        memory_rss=4096,
        processes=1,
        limits={"nofile": [1024, 4096]},
        cgroup=None,
        log_dropped_bytes={"stdout": 0, "stderr": 0},
        sample=SampleView(cpu_percent=0.5, cpu_seconds=0.25, memory_rss=4096, processes=1),
        tree=TreeView(root=100 + n, pgid=100 + n, marker=f"CORRAL_TREE=1.{n}"),
    )


def _status(instances: int) -> StatusView:
    sampler = SamplerView(
        interval=5.0,
        taken_at=None,
        sample_seconds=0.0,
        daemon_cpu_percent=None,
        daemon_memory_rss=None,
    )
    daemon = DaemonView(
        version="1", pid=1, uptime=2.5, config="/c.toml", states={"RUNNING": 2}, sampler=sampler
    )
    return StatusView(daemon=daemon, instances=tuple(_instance(n) for n in range(instances)))


def test_a_status_view_encoded_through_its_fields_is_to_json_of_it() -> None:
    for instances in (0, 1, ROWS_PER_PIECE, 3 * ROWS_PER_PIECE + 1):
        view = _status(instances)
        assert compact_json(json_fields(view), default=json_fields) == _dumps(to_json(view))


def test_an_object_neither_json_nor_a_view_is_refused_as_json_refuses_it() -> None:
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        compact_json({"x": object()}, default=json_fields)


def test_the_status_of_200_instances_never_holds_all_their_dicts_at_once() -> None:
    view = _status(200)
    whole = _peak(lambda v: compact_json(to_json(v)), view)
    sliced = _peak(lambda v: compact_json(json_fields(v), default=json_fields), view)
    assert sliced < 0.6 * whole  # 219 KB against 399 KB when written
