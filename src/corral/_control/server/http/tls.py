"""The TCP listener's TLS: a server context from a certificate chain and its key.

`ssl` (and OpenSSL with it, several MiB of the daemon's memory) is imported only when
this is called, so a daemon without TLS configured never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral._errors import CorralError

if TYPE_CHECKING:
    import ssl

__all__ = ["server_context"]


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A TLS 1.2+ server context presenting `cert_file` (PEM chain) with `key_file`.

    Raises CorralError naming both files and OpenSSL's reason when they cannot be used.
    """
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:  # an OSError too: tested first
        raise _unusable(cert_file, key_file, str(exc.reason or exc)) from None
    except OSError as exc:
        raise _unusable(cert_file, key_file, exc.strerror or str(exc)) from None
    return context


def _unusable(cert_file: str, key_file: str, reason: str) -> CorralError:
    return CorralError(f"cannot use the TLS certificate {cert_file} with key {key_file}: {reason}")
