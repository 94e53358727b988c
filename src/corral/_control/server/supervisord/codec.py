"""XML-RPC bodies in and out, through the standard library's xmlrpc.client.

A request is refused as a fault, never an exception past this module: malformed XML,
a document type declaration (entities are how an XML bomb grows, and XML-RPC has no
use for them), a body that is not one method call. Sizes are bounded before this is
reached: the HTTP server refuses a body over its `max_body` with a 413.
"""

from __future__ import annotations

import xmlrpc.client
from dataclasses import dataclass
from typing import Any, cast

from corral._control.server.supervisord.faults import Fault, Faults

__all__ = ["Call", "decode_call", "encode_fault", "encode_result"]

CONTENT_TYPE = "text/xml"


@dataclass(frozen=True, slots=True)
class Call:
    """One method call: its name and positional parameters."""

    method: str
    params: tuple[object, ...]


def decode_call(body: bytes) -> Call:
    """The call a request body holds; `Fault` (PARSE_ERROR) if it holds none."""
    if b"<!" in body.replace(b"<![CDATA[", b""):  # <!DOCTYPE, <!ENTITY: never needed
        raise Fault(Faults.PARSE_ERROR, "declarations are not accepted in XML-RPC requests")
    try:
        params, method = xmlrpc.client.loads(body, use_builtin_types=True)
    except Exception as exc:  # expat's ExpatError, and ValueError/TypeError of bad values
        raise Fault(Faults.PARSE_ERROR, f"not an XML-RPC call: {exc}") from None
    if not isinstance(method, str) or not method:
        raise Fault(Faults.PARSE_ERROR, "not an XML-RPC call: no methodName")
    return Call(method, tuple(params))


def encode_result(value: object) -> bytes:
    """A methodResponse holding `value`."""
    values = cast(tuple[Any, ...], (value,))  # what cannot be marshalled raises TypeError
    text = xmlrpc.client.dumps(values, methodresponse=True, allow_none=False)
    return text.encode()


def encode_fault(fault: Fault) -> bytes:
    """A methodResponse holding a fault."""
    error = xmlrpc.client.Fault(int(fault.code), fault.text)
    return xmlrpc.client.dumps(error, methodresponse=True).encode()
