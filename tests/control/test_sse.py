"""Server-Sent Events framing: what the server writes, the client reads back."""

from __future__ import annotations

import pytest

from corral._control.sse import Message, MessageDecoder, comment, message


def test_a_message_has_its_id_event_and_one_data_line_per_line() -> None:
    assert message('{"a": 1}', event="state", id=7) == b'id: 7\nevent: state\ndata: {"a": 1}\n\n'
    assert message("one\ntwo") == b"data: one\ndata: two\n\n"
    assert comment("heartbeat") == b": heartbeat\n\n"


def test_fields_that_are_not_one_line_are_refused() -> None:
    with pytest.raises(ValueError, match="one line"):
        message("x", event="a\nb")
    with pytest.raises(ValueError, match="one line"):
        comment("a\rb")


def test_the_decoder_reads_messages_back_across_any_split_and_skips_comments() -> None:
    stream = (
        comment("hello") + message("one\ntwo", event="state", id=1) + comment("heartbeat")
        + message("three")
    )  # fmt: skip
    for cut in range(len(stream) + 1):
        decoder = MessageDecoder()
        got = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert got == [Message("state", "one\ntwo", "1"), Message("message", "three", None)]


def test_the_decoder_takes_crlf_lines_and_ignores_unknown_fields() -> None:
    decoder = MessageDecoder()
    assert decoder.feed(b"retry: 5\r\nid:3\r\ndata:x\r\n\r\n") == [Message("message", "x", "3")]
