"""The WebSocket upgrade written without websockets (protocol/upgrade.py): the same bytes as
websockets writes, so that the server sees one request whichever of the two sent it."""

from __future__ import annotations

import base64

import pytest
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from smallest_cli.protocol.upgrade import USER_AGENT, upgrade_request

HEADERS = {"Authorization": "Bearer sk-test"}


def _websockets_request(url: str, key: str) -> bytes:
    """What `ClientConnection.handshake(HEADERS, USER_AGENT)` sends for `url` with `key`."""
    protocol = ClientProtocol(parse_uri(url))
    protocol.key = key
    request = protocol.connect()
    request.headers.update(HEADERS)
    request.headers.setdefault("User-Agent", USER_AGENT)
    return request.serialize()


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:8080/waves/v1/tts/live",
        "wss://api.smallest.ai/waves/v1/tts/live",
        "wss://API.Smallest.ai:443/waves/v1/tts/live?timeout=3600",
        "ws://localhost:80",
        "wss://[::1]:8443/prefix/waves/v1/tts/live",
        "ws://[2001:db8::1]/x",
    ],
)
def test_the_request_is_byte_for_byte_what_websockets_sends(url: str) -> None:
    upgrade = upgrade_request(url, HEADERS)
    assert upgrade is not None and upgrade.url == url
    assert upgrade.request == _websockets_request(url, upgrade.key)


def test_each_request_has_a_fresh_sixteen_byte_key() -> None:
    url = "ws://127.0.0.1:1/waves/v1/tts/live"
    first, second = upgrade_request(url, HEADERS), upgrade_request(url, HEADERS)
    assert first is not None and second is not None
    assert len(base64.b64decode(first.key, validate=True)) == 16
    assert first.key != second.key


@pytest.mark.parametrize(
    "url",
    [
        "ws://user:secret@example.com/x",  # websockets sends Basic credentials for these
        "ws://example.com/x#part",
        "ws://exämple.com/x",  # websockets encodes these with IDNA and percent-escapes
        "ws://example.com/säge",
        "http://example.com/x",
        "ws://example.com:99999/x",
        "ws:///x",
    ],
)
def test_urls_outside_the_plain_case_get_no_early_upgrade(url: str) -> None:
    assert upgrade_request(url, HEADERS) is None


def test_an_upgrade_never_shows_the_key_it_carries() -> None:
    headers = {"Authorization": "Bearer sk-secret-1234"}
    upgrade = upgrade_request("wss://api.smallest.ai/waves/v1/tts/live", headers)
    assert upgrade is not None and b"sk-secret-1234" in upgrade.request
    assert "sk-secret" not in repr(upgrade) and "sk-secret" not in str(upgrade)
    assert "sk-secret" not in repr([upgrade]) and "sk-secret" not in f"{upgrade}"
