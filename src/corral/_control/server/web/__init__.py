"""The web dashboard (`[web] enabled = true`): one page served on the TCP listener.

The page (dashboard.html: HTML, CSS and JS in one file, no external assets) reads the
API as any client does: `/v1/status`, `/v1/metrics/NAME/history`, `/v1/logs/NAME` (and
`/follow`), the event stream `/v1/events?follow=1`, and acts through `POST /v1/start`,
`stop`, `restart`, `signal` and `scale`, which the audit log records. A browser logs in
once with a token and holds a session cookie (`sessions`); `gate` decides who may use
the listener; `routes` serves the page and the login. Imported only when enabled: a
daemon without a dashboard holds none of it.
"""

from __future__ import annotations

from corral._control.server.web.gate import CSRF_HEADER, WebGate
from corral._control.server.web.routes import PAGE_FILE, Dashboard
from corral._control.server.web.sessions import COOKIE, Sessions

__all__ = ["COOKIE", "CSRF_HEADER", "PAGE_FILE", "Dashboard", "Sessions", "WebGate"]
