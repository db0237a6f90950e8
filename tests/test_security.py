"""The key's transport rule, base URL validation and key-source warnings (pure functions)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smallest_cli.errors import UsageError
from smallest_cli.options.config import write_config
from smallest_cli.options.resolve import key_warnings, resolve_connection
from smallest_cli.options.security import (
    CMDLINE_KEY_WARNING,
    check_base_url,
    check_key_transport,
    is_loopback,
)
from smallest_cli.options.settings import ConnectionOptions, Secret

KEY = "sk_distinctive_secret_4242"


@pytest.mark.parametrize(
    "url",
    ["http://", "ftp://example.com", "example.com", "http://exa mple.com", "http://host:99999",
     "http://host:0", "http://user:pw@example.com", "https://h/?q=1", "http://-bad-/", "http://:80"],
)
def test_bad_base_urls(url: str) -> None:
    with pytest.raises(UsageError, match="bad base URL"):
        check_base_url(url)


@pytest.mark.parametrize(
    "url", ["https://api.smallest.ai", "http://127.0.0.1:8123", "http://[::1]:1", "https://h.example:443/x"]
)
def test_good_base_urls(url: str) -> None:
    check_base_url(url)


@pytest.mark.parametrize(
    ("host", "loop"),
    [("localhost", True), ("api.localhost", True), ("127.0.0.1", True), ("127.8.9.1", True),
     ("::1", True), ("[::1]", True), ("10.0.0.1", False), ("example.com", False),
     ("localhost.evil.com", False)],
)
def test_is_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_plain_http_to_remote_host_is_refused_unless_allowed() -> None:
    with pytest.raises(UsageError, match="--allow-insecure"):
        check_key_transport("http://api.example.com")
    check_key_transport("http://api.example.com", allow_insecure=True)
    check_key_transport("http://127.0.0.1:8123")
    check_key_transport("https://api.example.com")


def test_resolve_connection_applies_the_rule() -> None:
    env = {"SMALLEST_API_KEY": KEY}
    with pytest.raises(UsageError):
        resolve_connection(dict(base_url="http://10.1.2.3:80"), env, {})
    conn = resolve_connection(dict(base_url="http://10.1.2.3:80", allow_insecure=True), env, {})
    assert conn.allow_insecure


def test_warnings_by_key_source(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    write_config({"api_key": KEY}, cfg)
    assert os.stat(cfg).st_mode & 0o777 == 0o600
    assert key_warnings(flag_key=KEY, environ={}, config={}) == [CMDLINE_KEY_WARNING]
    assert key_warnings(flag_key=None, environ={"SMALLEST_API_KEY": KEY}, config={"api_key": KEY}) == []
    assert key_warnings(flag_key=None, environ={}, config={"api_key": KEY}, config_file=cfg) == []
    os.chmod(cfg, 0o644)
    [warning] = key_warnings(flag_key=None, environ={}, config={"api_key": KEY}, config_file=cfg)
    assert "chmod 600" in warning and KEY not in warning


def test_key_never_in_reprs() -> None:
    conn = ConnectionOptions(base_url="https://x", api_key=Secret(KEY), timeout=30, retries=3)
    for text in (repr(conn), str(conn), repr(Secret(KEY)), str(Secret(KEY)), f"{Secret(KEY)}"):
        assert KEY not in text and KEY[3:-2] not in text


def test_no_tls_verification_switch_in_the_client() -> None:
    """Nothing in the client turns certificate checks off."""
    root = Path(__file__).resolve().parent.parent / "smallest_cli"
    for path in root.rglob("*.py"):
        text = path.read_text()
        for needle in ("verify=False", "CERT_NONE", "check_hostname = False", "_create_unverified_context"):
            assert needle not in text, f"{path}: {needle}"
