"""`Fields._replace` makes the same record as a NamedTuple's, and leaves nothing behind.

The stock `_replace` left one plain 14-item tuple in CPython's free list per call, never
taken back (136 bytes a call, up to 2,000 of them); the machine calls it several times per
input. The free list's length is read from `sys._debugmallocstats()`, which CPython writes
to the stderr file descriptor.
"""

from __future__ import annotations

import re
import sys

import pytest

from corral._lifecycle.fields import Fields
from corral._lifecycle.states import InstanceState
from tests.lifecycle.harness import policy

CALLS = 500


def _free_tuples_of_fields_size(capfd: pytest.CaptureFixture[str]) -> int:
    capfd.readouterr()
    sys._debugmallocstats()
    report = capfd.readouterr().err
    size = len(Fields._fields)
    found = re.search(rf"^\s*(\d+) free {size}-sized PyTupleObjects", report, re.MULTILINE)
    assert found is not None, report
    return int(found.group(1))


def test_replace_changes_the_named_fields_and_keeps_the_others() -> None:
    fields = Fields("web:0", policy(), 5.0, since=1.0)
    changed = fields._replace(state=InstanceState.RUNNING, pid=42, failures=0)
    assert type(changed) is Fields
    assert changed == Fields("web:0", policy(), 5.0, InstanceState.RUNNING, 1.0, 42)
    assert fields.state is InstanceState.STOPPED  # the original is untouched


def test_replace_refuses_a_field_that_does_not_exist() -> None:
    with pytest.raises(ValueError, match=r"Got unexpected field names: \['nope'\]"):
        Fields("web:0", policy(), 5.0)._replace(nope=1)  # type: ignore[call-arg]


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's free lists")
def test_replacing_fields_again_and_again_does_not_grow_the_tuple_free_list(
    capfd: pytest.CaptureFixture[str],
) -> None:
    fields = Fields("web:0", policy(), 5.0)
    before = _free_tuples_of_fields_size(capfd)
    for n in range(CALLS):
        fields = fields._replace(restarts=n)
    assert _free_tuples_of_fields_size(capfd) - before < 10
