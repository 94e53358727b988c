"""A JSON reply's body: the bytes `json.dumps` makes, built with a bounded peak of memory.

`compact_json` encodes a top-level object's long lists a slice at a time (CPython 3.11's
encoder holds each token of a document as a string until its end); the text must not
change for that, whatever the data.
"""

from __future__ import annotations

import json
import tracemalloc

from hypothesis import given
from hypothesis import strategies as st

from corral._control.server.http.messages import ROWS_PER_PIECE, Response, compact_json

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
