"""Where the API key may go, and warnings about how it was given (pure: no network I/O).

* `check_base_url(url)`: a well-formed http(s) base URL, or UsageError (exit 2) before connecting.
* `check_key_transport(url, allow_insecure)`: the key is never sent in clear text (`http://`, hence
  `ws://`) to a host that is not loopback, unless the user said `--allow-insecure`.
* `check_api_key(key, where)`: a key that cannot be a header value is refused before any request.

TLS certificates are always verified: nothing in the client turns verification off.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import NamedTuple

from smallest_cli.errors import UsageError

#: `config set api_key sk_...`: the same exposure as --api-key, once.
CONFIG_KEY_ARG_WARNING = (
    "smallest: warning: the key was visible to other users of this machine (process list, shell history); "
    "next time give - and the key on stdin: `smallest config set api_key -`"
)
CMDLINE_KEY_WARNING = (
    "smallest: warning: --api-key is visible to other users of this machine (process list, shell history); "
    "prefer the SMALLEST_API_KEY environment variable or `smallest config set api_key -` (reads stdin)"
)


def check_api_key(key: str, where: str) -> str:
    """`key` if it is one word of printable ASCII, else UsageError (exit 2). Another character
    cannot go in the Authorization header: a request would fail with the header, key and all, in
    its message (a line break also defeats the redaction of the key), or with a traceback."""
    if not (key.isascii() and key.isprintable()) or any(c.isspace() for c in key):
        raise UsageError(
            f"{where} must be one word of printable ASCII characters, as keys are (the key is not shown)"
        )
    return key


# Compiled (and cached by `re`) when a host name is first checked: IP addresses never need it.
_HOSTNAME_RE = r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$"


class BaseUrl(NamedTuple):
    """A parsed, validated base URL. (A NamedTuple: it is checked before every first request,
    and a frozen dataclass costs ~0.4 ms to create.)"""

    scheme: str
    host: str
    port: int | None

    @property
    def secure(self) -> bool:
        return self.scheme == "https"


def _valid_host(host: str) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(re.match(_HOSTNAME_RE, host)) and len(host) <= 253


def check_base_url(url: str) -> BaseUrl:
    """Parse `url` (`http(s)://host[:port][/path]`); raise UsageError naming it when malformed."""

    def bad(reason: str) -> UsageError:
        return UsageError(f"bad base URL {url!r}: {reason}")

    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise bad("it contains spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise bad(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise bad("it must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise bad("credentials in the URL are not supported; use SMALLEST_API_KEY")
    if parts.query or parts.fragment:
        raise bad("it must not have a query or fragment")
    try:
        port = parts.port
    except ValueError:
        raise bad("the port must be a number from 1 to 65535") from None
    if port == 0:
        raise bad("the port must be a number from 1 to 65535")
    host = parts.hostname or ""
    if not _valid_host(host):
        raise bad("it has no valid host name")
    return BaseUrl(scheme=scheme, host=host, port=port)


def is_loopback(host: str) -> bool:
    """True for `localhost` (and `*.localhost`) and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


#: What a run refused by `check_key_transport` can do instead.
INSECURE_HINT = "use https://, or pass --allow-insecure if you trust the network"
#: The same for `config set base_url`: the file cannot hold --allow-insecure, so a run without it
#: would refuse the value.
INSECURE_CONFIG_HINT = (
    "use https:// (the config file cannot say --allow-insecure; for a network you trust, "
    "set SMALLEST_BASE_URL and pass --allow-insecure)"
)


def check_key_transport(url: str, *, allow_insecure: bool = False, hint: str = INSECURE_HINT) -> BaseUrl:
    """Validate `url`; refuse plain http/ws to a non-loopback host unless `allow_insecure`."""
    base = check_base_url(url)
    if not base.secure and not allow_insecure and not is_loopback(base.host):
        raise UsageError(
            f"refusing to send the API key unencrypted to {base.host} over http:// (or ws://); {hint}"
        )
    return base
