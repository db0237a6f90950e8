"""TLS for `smallest serve --tls-cert --tls-key`: https and wss on the same port.

asyncio drops a failed handshake silently (it logs it only in debug mode), so the context's TLS
objects log it themselves: one line on stderr per client that fails, and the server keeps serving.
"""

from __future__ import annotations

import logging
import ssl

from smallest_cli.errors import UsageError

log = logging.getLogger("smallest.serve")


class _LoggedHandshake(ssl.SSLObject):
    """The server side of one connection's TLS; a failed handshake is logged, then raised as usual."""

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise  # more bytes needed: not a failure
        except ssl.SSLError as exc:
            log.warning("TLS handshake failed: %s", describe(exc))
            raise


def describe(exc: ssl.SSLError) -> str:
    """OpenSSL's reason without its source location: `[SSL: X] words (_ssl.c:1006)` → `[SSL: X] words`."""
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    return text.split(" (_ssl.c:", 1)[0]


def server_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context with `cert` (PEM, chain included) and its `key`; UsageError when they cannot
    be loaded (missing file, not PEM, a key that does not match the certificate)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.sslobject_class = _LoggedHandshake
    try:
        context.load_cert_chain(cert, key)
    except OSError as exc:  # ssl.SSLError included
        reason = describe(exc) if isinstance(exc, ssl.SSLError) else exc.strerror or str(exc)
        raise UsageError(f"cannot load the TLS certificate {cert} with the key {key}: {reason}") from None
    return context
