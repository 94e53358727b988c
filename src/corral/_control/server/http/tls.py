"""The TCP listener's TLS: a server context from a certificate chain and its key.

`ssl` (and OpenSSL's TLS library with it, several MiB of the daemon's memory) is
imported only when this is called, so a daemon without TLS configured never loads it
(corral._control.ssl_gate keeps asyncio from loading it either).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from corral._errors import CorralError

if TYPE_CHECKING:
    import ssl

__all__ = ["server_context"]

_OPENSSL_NOISE = re.compile(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$")


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A TLS 1.2+ server context presenting `cert_file` (PEM chain) with `key_file`.

    Raises CorralError naming the file at fault and why when they cannot be used.
    """
    try:
        import ssl
    except ImportError:  # blocked by ssl_gate: the config gained TLS after it was read
        raise CorralError("TLS was configured after the daemon started: start it again") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:  # an OSError too: tested first
        raise CorralError(_why(cert_file, key_file, exc)) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CorralError(f"cannot use the TLS certificate {cert_file}: {reason}") from None
    return context


def _why(cert_file: str, key_file: str, exc: Exception) -> str:
    """Which of the two files OpenSSL refused: the certificate if it holds none."""
    import ssl

    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=cert_file)
    except ssl.SSLError:
        return f"cannot use the TLS certificate {cert_file}: it holds no PEM certificate"
    detail = _OPENSSL_NOISE.sub("", str(exc.args[-1] if exc.args else exc))
    return (
        f"cannot use the TLS key {key_file}: not a PEM private key of the certificate "
        f"{cert_file} (OpenSSL: {detail})"
    )
