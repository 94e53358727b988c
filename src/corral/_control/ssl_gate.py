"""Keep OpenSSL out of a daemon that speaks no TLS: about 6 MB of RSS saved.

asyncio imports `ssl` when it can, so the choice is made before asyncio is imported:
`keep_ssl_out_unless_tls(config)` reads only the [daemon] table of the config (as
`corral -c` does) and blocks `ssl` unless it sets `tls_cert_file` or `tls_key_file`,
or an [alerts.NAME] table has an https:// webhook.
The daemon reads the [daemon] table once more when it loads the whole config, and a
TLS setting there with `ssl` blocked (the file changed in between) stops it with a
message. Standard library only.
"""

from __future__ import annotations

import sys
import tomllib

__all__ = ["TLS_KEYS", "keep_ssl_out_unless_tls", "wants_tls"]

TLS_KEYS = ("tls_cert_file", "tls_key_file")
"""The [daemon] keys that turn TLS on."""


def wants_tls(config_path: str) -> bool:
    """Whether the config's [daemon] table sets a TLS key, or an alert POSTs to an https
    webhook (False if it cannot be read)."""
    try:
        with open(config_path, "rb") as stream:
            data = tomllib.load(stream)
    except (OSError, tomllib.TOMLDecodeError):
        return False  # the daemon's own load reports the problem
    table = data.get("daemon")
    if isinstance(table, dict) and any(key in table for key in TLS_KEYS):
        return True
    alerts = data.get("alerts")
    return isinstance(alerts, dict) and any(
        isinstance(rule, dict) and str(rule.get("webhook", "")).startswith("https:")
        for rule in alerts.values()
    )


def keep_ssl_out_unless_tls(config_path: str) -> None:
    """Make `import ssl` fail in this process unless the config asks for TLS."""
    if not wants_tls(config_path):
        sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]
