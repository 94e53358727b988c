"""supervisord's XML-RPC interface, served beside the API when `[compat] supervisord = true`.

The pieces: `faults` (its fault codes), `codec` (XML-RPC bodies, through the standard
library), `names` (corral's instances as supervisord's groups and processes, and its
info struct), `ranges` (its log byte ranges), `methods` (each method, a translation
onto Operations), `routes` (/RPC2, /logtail, /mainlogtail on the router).
See docs/supervisord.md.
"""

from __future__ import annotations

from corral._control.server.supervisord.routes import RPC_PATH, add_supervisord_routes

__all__ = ["RPC_PATH", "add_supervisord_routes"]
