"""The first connection, started from the parsed arguments, before the command's body is imported.

A far server costs round trips for TCP and TLS before the first request can go out. `__main__`
starts them (`transports.dial`) as soon as the arguments are parsed and the config file is read:
the command's modules and the network library import while the handshakes are under way. Only
where the settings say the connection goes is resolved here, with no checks; the run checks
everything as usual and takes the socket if it is for its server. Nothing is sent on it before the
input is known to be good.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (startup.py)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from smallest_cli.options.settings import ConnectionOptions
    from smallest_cli.transports.dial import Dial


def early_dial(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Dial | None:
    """The dial to the server the settings name; None when the run would not use it (no key, the
    audio cache on: a hit makes no connection) or the settings are wrong (the run reports them)."""
    from smallest_cli.errors import SmallestError
    from smallest_cli.options.config import load_config_unchecked
    from smallest_cli.options.layers import setting

    try:
        config = load_config_unchecked()

        def get(field: str) -> Any:
            return setting(field, flags, environ, config)

        if get("cache") or not get("api_key"):
            return None
        timeout = float(get("timeout"))
        if not timeout > 0:
            return None
        base_url = str(get("base_url")).strip().rstrip("/")
        return start_dial(base_url, timeout, int(flags.get("concurrency") or 1), environ)
    except (SmallestError, ValueError):  # a malformed URL or number among them
        return None


def start_dial(base_url: str, timeout: float, concurrency: int, environ: Mapping[str, str]) -> Dial | None:
    """The early connection for the first request; None for --concurrency (each request has a
    connection of its own) and behind a proxy."""
    from smallest_cli.transports.dial import Dial, proxied

    if concurrency > 1 or proxied(environ):
        return None
    return Dial(base_url, timeout)


def upgrade_early(dial: Dial, conn: ConnectionOptions) -> None:
    """Have `dial` send the WebSocket upgrade for the first request as soon as TLS is up, while the
    WebSocket library is still to import; called once the input is known to be good."""
    from smallest_cli.protocol.contract import live_url
    from smallest_cli.protocol.upgrade import upgrade_request

    upgrade = upgrade_request(live_url(conn.base_url), conn.auth_headers())
    if upgrade is not None:
        dial.upgrade(upgrade)
