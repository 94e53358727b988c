"""Codecs: a message to a frame's bytes and back. Raw bytes, msgspec (the default), JSON, pickle.

A channel's `send(message)` encodes with its codec and `recv()` decodes; a frame's
bytes that do not decode are a `CodecError` naming the codec. `Msgpack(type=T)` is
typed: msgspec validates each message against `T` as it decodes (a `msgspec.Struct`,
a dataclass, a TypedDict, `int`, `list[str]` ...), so a wrong-shaped message is a
CodecError, not an object of the wrong shape. `Pickle` runs code chosen by the
peer when it decodes: it is never a default, only used when asked for by name.
msgspec is imported here, and only `corral.ipc` imports this module.
"""

from __future__ import annotations

import pickle
from typing import Any

import msgspec

from corral._errors import CodecError

__all__ = ["Codec", "Json", "Msgpack", "Pickle", "Raw"]


class Codec:
    """Turns messages into bytes and back (a base to subclass); `name` is for messages."""

    name = "codec"

    def encode(self, message: Any) -> bytes:
        """`message` as a frame's bytes; CodecError when it cannot be."""
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        """A frame's bytes as a message; CodecError when they are not one."""
        raise NotImplementedError


class Raw(Codec):
    """Bytes as they are: `send` takes bytes-like, `recv` gives bytes."""

    name = "raw"

    def encode(self, message: Any) -> bytes:
        """`message` itself, which must be bytes-like."""
        if isinstance(message, bytes):
            return message
        if isinstance(message, bytearray | memoryview):
            return bytes(message)
        raise CodecError(f"the raw codec sends bytes, not {type(message).__name__}")

    def decode(self, data: bytes) -> Any:
        """`data` itself."""
        return data


class _Msgspec(Codec):
    """A msgspec encoder/decoder pair for one type, with errors made CodecErrors."""

    name = "msgspec"

    def __init__(self, encoder: Any, decoder: Any) -> None:
        self._encoder = encoder
        self._decoder = decoder

    def encode(self, message: Any) -> bytes:
        """`message` encoded (CodecError for a type msgspec cannot encode)."""
        try:
            data: bytes = self._encoder.encode(message)
        except (TypeError, ValueError, OverflowError) as exc:
            raise CodecError(f"{self.name} codec cannot encode the message: {exc}") from None
        return data

    def decode(self, data: bytes) -> Any:
        """`data` decoded and validated (CodecError for garbage or a wrong shape)."""
        try:
            return self._decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise CodecError(f"{self.name} codec cannot decode a frame: {exc}") from None


class Msgpack(_Msgspec):
    """msgspec's MessagePack, typed by `type` (Any: whatever msgpack holds). The default."""

    name = "msgpack"

    def __init__(self, type: Any = Any) -> None:
        self.type = type
        super().__init__(msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(type))


class Json(_Msgspec):
    """JSON by msgspec, typed by `type` like `Msgpack`: for a peer that speaks JSON."""

    name = "json"

    def __init__(self, type: Any = Any) -> None:
        self.type = type
        super().__init__(msgspec.json.Encoder(), msgspec.json.Decoder(type))


class Pickle(Codec):
    """pickle, only when asked for: decoding runs whatever the peer's bytes say."""

    name = "pickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def encode(self, message: Any) -> bytes:
        """`message` pickled (CodecError when it cannot be)."""
        try:
            return pickle.dumps(message, self.protocol)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise CodecError(f"pickle codec cannot encode the message: {exc}") from None

    def decode(self, data: bytes) -> Any:
        """`data` unpickled (CodecError for bytes that are not a pickle)."""
        try:
            return pickle.loads(data)
        except Exception as exc:  # pickle raises anything the stream provokes
            raise CodecError(f"pickle codec cannot decode a frame: {exc!r}") from None
