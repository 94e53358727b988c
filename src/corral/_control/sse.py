"""Server-Sent Events framing, both ways: the server encodes, the client decodes.

The text/event-stream format (WHATWG HTML, "Server-sent events"): a message is lines of
`field: value` ended by a blank line; `id:` sets the reader's Last-Event-ID, `event:`
names the message's type, each `data:` line adds a line of data, and a line starting
with `:` is a comment (our heartbeat). corral's data is one line of JSON, so a message
is at most three lines. Shared by the server and the client, like `wire`: only the
standard library, nothing asyncio.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Message", "MessageDecoder", "comment", "message"]


def message(data: str, *, event: str | None = None, id: int | None = None) -> bytes:
    """One message; `data` may hold newlines (each becomes a `data:` line)."""
    head = "" if id is None else f"id: {id}\n"
    head += "" if event is None else f"event: {_one_line(event)}\n"
    body = "".join(f"data: {line}\n" for line in data.split("\n"))
    return (head + body + "\n").encode()


def comment(text: str) -> bytes:
    """A comment line, which readers ignore: keeps an idle connection visibly alive."""
    return f": {_one_line(text)}\n\n".encode()


def _one_line(text: str) -> str:
    if "\n" in text or "\r" in text:
        raise ValueError(f"an SSE field must be one line, got {text!r}")
    return text


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded message."""

    event: str
    """The `event:` field; "message" when the server sent none (the format's default)."""
    data: str
    """The `data:` lines joined by newlines."""
    id: str | None
    """The `id:` field of this message, or None if it had none."""


class MessageDecoder:
    """Bytes of an event stream in, whole messages out; comments and unknown fields skipped."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, data: bytes) -> list[Message]:
        """The messages completed by `data` (a message may span several calls)."""
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        done: list[Message] = []
        for raw in lines:
            line = raw.decode("utf-8", "replace").removesuffix("\r")
            if line:
                self._field(line)
            elif self._data or self._event or self._id is not None:
                done.append(Message(self._event or "message", "\n".join(self._data), self._id))
                self._event, self._data, self._id = "", [], None
        return done

    def _field(self, line: str) -> None:
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
