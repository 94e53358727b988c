"""Webhook: POST a JSON payload over HTTP/1.1 (h11) on the event loop, bounded and retried.

`Webhooks` is what the daemon holds: `send(url, payload)` returns at once; the
delivery runs as a task, at most `MAX_PENDING` at a time (more are dropped and
counted). Each attempt is bounded by `timeout` (connect, send and read together),
and a failed one (refused, timed out, reset, a 5xx or 429 status) is tried again
after 0.5 s, 1 s, ... up to `attempts` in all. A 2xx-4xx answer other than 429 ends
it: a 4xx is counted failed but not retried (the payload would not change).
Every outcome is counted (`stats`); the last failure of each URL is kept, without
its query string (which may hold a token). HTTPS imports `ssl` on its first use
only, and the daemon keeps `ssl` out altogether unless its config, when it started,
had an https webhook (or TLS): one a reload adds fails, saying so.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import h11

if TYPE_CHECKING:
    import ssl

MAX_PENDING = 64
"""Deliveries under way at most; one more is dropped (and counted) rather than queued."""
TIMEOUT = 5.0
"""Seconds one attempt may take, from connect to the status line."""
ATTEMPTS = 3
"""Tries per delivery, the first included."""
FIRST_RETRY = 0.5
"""Seconds before the first retry; each next one waits twice as long."""
RESPONSE_BYTES = 64 * 1024
"""Bytes of an answer read at most while waiting for its status line."""


class WebhookFailed(Exception):
    """One attempt failed: refused, timed out, cut off, or answered with a failing status."""

    def __init__(self, reason: str, *, retry: bool = True) -> None:
        super().__init__(reason)
        self.retry = retry


@dataclass(slots=True)
class WebhookStats:
    """Counts since the daemon started."""

    delivered: int = 0
    """Deliveries answered with a 2xx (or 3xx) status."""
    failed: int = 0
    """Deliveries given up: every attempt failed, or a 4xx answer."""
    retried: int = 0
    """Attempts that failed and were tried again."""
    dropped: int = 0
    """Deliveries not made: MAX_PENDING were under way already."""
    last_error: dict[str, str] = field(default_factory=dict)
    """URL (without its query) -> why its last failed delivery failed."""


class Webhooks:
    """Deliveries in flight, and what became of them."""

    def __init__(
        self,
        *,
        timeout: float = TIMEOUT,
        attempts: int = ATTEMPTS,
        first_retry: float = FIRST_RETRY,
        on_failure: Callable[[str, str], None] | None = None,
    ) -> None:
        """`on_failure(url, reason)` is told of each delivery given up."""
        self.timeout, self.attempts, self.first_retry = timeout, attempts, first_retry
        self.stats = WebhookStats()
        self._on_failure = on_failure
        self._pending: set[asyncio.Task[None]] = set()
        self._tls: ssl.SSLContext | None = None

    @property
    def pending(self) -> int:
        """Deliveries under way."""
        return len(self._pending)

    def send(self, url: str, payload: Mapping[str, object]) -> bool:
        """Start delivering `payload` to `url`; False (dropped, counted) when MAX_PENDING are
        under way."""
        if len(self._pending) >= MAX_PENDING:
            self.stats.dropped += 1
            return False
        body = json.dumps(payload, default=str).encode()
        task = asyncio.get_running_loop().create_task(self._deliver(url, body))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return True

    async def close(self) -> None:
        """Cancel what is under way (the daemon is stopping)."""
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)

    async def _deliver(self, url: str, body: bytes) -> None:
        delay = self.first_retry
        for attempt in range(1, self.attempts + 1):
            try:
                tls = self._context(url)
                await post(url, body, timeout=self.timeout, tls=tls)
            except WebhookFailed as exc:
                if exc.retry and attempt < self.attempts:
                    self.stats.retried += 1
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                self._failed(url, f"{exc} (attempt {attempt} of {self.attempts})")
                return
            self.stats.delivered += 1
            return

    def _failed(self, url: str, reason: str) -> None:
        self.stats.failed += 1
        shown = urlsplit(url)._replace(query="", fragment="").geturl()
        self.stats.last_error[shown] = reason
        if self._on_failure is not None:
            self._on_failure(shown, reason)

    def _context(self, url: str) -> ssl.SSLContext | None:
        if not url.startswith("https:"):
            return None
        if self._tls is None:
            try:
                import ssl  # only once an https webhook is used: OpenSSL costs the daemon memory
            except ImportError:  # kept out at start (`_control/ssl_gate.py`): no https then
                hint = "https needs a daemon started with an https webhook in its config"
                raise WebhookFailed(hint, retry=False) from None
            self._tls = ssl.create_default_context()
        return self._tls


async def post(url: str, body: bytes, *, timeout: float, tls: ssl.SSLContext | None) -> int:
    """POST `body` as JSON to `url` with one connection; its status, or WebhookFailed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=tls, server_hostname=host if tls is not None else None
            )
            connection = h11.Connection(h11.CLIENT)
            data = _request(connection, parts.netloc, target, body)
            try:
                return await _exchange(connection, reader, writer, data)
            finally:
                writer.close()
    except TimeoutError:
        raise WebhookFailed(f"no answer within {timeout:g} s") from None
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
        raise WebhookFailed(reason) from None


def _request(connection: h11.Connection, netloc: str, target: str, body: bytes) -> bytes:
    """The request's bytes, as `connection` sends them."""
    headers = [
        ("Host", netloc.rpartition("@")[2]),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("User-Agent", "corral-alerts"),
        ("Connection", "close"),
    ]
    parts = (
        connection.send(h11.Request(method="POST", target=target, headers=headers)),
        connection.send(h11.Data(data=body)),
        connection.send(h11.EndOfMessage()),
    )
    return b"".join(part or b"" for part in parts)


async def _exchange(
    connection: h11.Connection,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    data: bytes,
) -> int:
    """Send the request, read until the status line: the status, judged."""
    writer.write(data)
    await writer.drain()
    read = 0
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError as exc:
            raise WebhookFailed(f"a malformed answer: {exc}") from None
        if event is h11.NEED_DATA:
            chunk = await reader.read(4096)
            read += len(chunk)
            if read > RESPONSE_BYTES:
                raise WebhookFailed("an answer without a status line in 64 KiB")
            connection.receive_data(chunk)
            continue
        if isinstance(event, h11.Response):
            return _judged(event.status_code)
        if isinstance(event, h11.ConnectionClosed):
            raise WebhookFailed("the connection closed before an answer")


def _judged(status: int) -> int:
    if status >= 500 or status == 429:
        raise WebhookFailed(f"answered {status}")
    if status >= 400:
        raise WebhookFailed(f"answered {status}", retry=False)
    return status
