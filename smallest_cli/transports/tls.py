"""The one TLS context of every https and wss connection the client makes (requests and websockets).

Certificates are always verified. The CAs trusted are those in each file or directory named by
SSL_CERT_FILE, SSL_CERT_DIR, REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE (a private CA, a corporate
proxy's); when none is set, certifi's bundle, which is what requests trusts by default.

The context is built once per process and environment: loading a bundle takes tens of
milliseconds, which requests and websockets would otherwise spend again on every connection.
"""

from __future__ import annotations

import functools
import os
import ssl

from smallest_cli.errors import UsageError

#: The environment variables that name CA certificates to trust (a file or a directory each).
CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def client_ssl_context() -> ssl.SSLContext:
    """The verifying client context for the CAs the environment names (see the module docstring)."""
    return _context(tuple((name, os.environ.get(name, "")) for name in CA_VARIABLES))


@functools.lru_cache(maxsize=1)
def _context(sources: tuple[tuple[str, str], ...]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, hostnames checked
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # One file named by several variables (REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE often both name
    # the system bundle) is loaded once: each load of a bundle costs tens of milliseconds.
    seen: set[str] = set()
    named = []
    for name, path in sources:
        if path and os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            named.append((name, path))
    if not named:
        import certifi

        named = [("certifi", certifi.where())]
    for name, path in named:
        try:
            if os.path.isdir(path):
                context.load_verify_locations(capath=path)
            else:
                context.load_verify_locations(cafile=path)
        except ssl.SSLError:
            raise UsageError(f"{name}={path} holds no PEM certificate") from None
        except OSError as exc:
            raise UsageError(f"cannot read {name}={path}: {exc.strerror or exc}") from None
    return context
