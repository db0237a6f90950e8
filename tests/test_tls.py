"""TLS end to end: `smallest serve --tls-cert --tls-key` serves https and wss on one port, and the
real CLI trusts a private CA named by SSL_CERT_FILE or REQUESTS_CA_BUNDLE on every transport.
Certificates are always verified: without the CA every command fails with one line, exit 6."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from smallest_cli.transports.tls import CA_VARIABLES
from tests.helpers import ROOT, Server, cli_env, cli_probe, run_cli, running_server, wait_until
from tests.test_long_text import long_text

#: Four segments: connections are reused (keep-alive, or a spare WebSocket opened in the background).
TEXT = long_text(800)
HANDSHAKE_FAILED = b"smallest serve: TLS handshake failed: "


class Pki(NamedTuple):
    ca: Path
    #: A directory holding the CA under its hash name, as SSL_CERT_DIR wants.
    ca_dir: Path
    cert: Path
    key: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30, cwd=cwd)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA, and a certificate it signed for 127.0.0.1 (as docs/serve.md makes them)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available")
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-days", "1", "-subj", "/CN=smallest test CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    _openssl("req", *ec, "-subj", "/CN=127.0.0.1", "-keyout", "key.pem", "-out", "server.csr", cwd=d)
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "1", "-extfile", "san.cnf", "-out", "cert.pem", cwd=d)
    (d / "hashed").mkdir()
    shutil.copy(d / "ca.pem", d / "hashed")
    _openssl("rehash", "hashed", cwd=d)
    return Pki(ca=d / "ca.pem", ca_dir=d / "hashed", cert=d / "cert.pem", key=d / "key.pem")


class TlsServer(NamedTuple):
    server: Server
    log: Path

    def handshake_failures(self) -> int:
        return self.log.read_bytes().count(HANDSHAKE_FAILED)


@pytest.fixture(scope="module")
def tls_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as log_file, running_server(tls=(pki.cert, pki.key), log=log_file) as srv:
        yield TlsServer(srv, log)


def tls_env(server: Server, tmp_path: Path, **trust: str) -> dict[str, str]:
    """The CLI's environment, trusting only the CAs named in `trust` (none of the caller's own)."""
    env = cli_env(server, tmp_path)
    for name in CA_VARIABLES:
        env.pop(name, None)
    env.update(trust)
    return env


def command_args(command: str, out: Path) -> list[str]:
    return ["voices", "--json"] if command == "voices" else [command, TEXT, "-o", str(out)]


def one_line(stderr: bytes) -> str:
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


def test_serve_prints_its_https_url(tls_server: TlsServer) -> None:
    assert tls_server.server.url.startswith("https://127.0.0.1:")
    assert tls_server.server.ws_url.startswith("wss://127.0.0.1:")


@pytest.mark.parametrize(
    ("command", "variable", "extra"),
    [
        ("speak", "SSL_CERT_FILE", []),
        ("stream-sse", "SSL_CERT_FILE", []),
        ("stream-ws", "SSL_CERT_FILE", []),
        ("voices", "SSL_CERT_FILE", []),
        ("speak", "REQUESTS_CA_BUNDLE", []),
        ("stream-ws", "REQUESTS_CA_BUNDLE", []),
        ("stream-sse", "SSL_CERT_DIR", []),
        ("stream-ws", "SSL_CERT_FILE", ["--concurrency", "3"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_a_trusted_ca_gives_the_same_output_as_plain_http(
    command: str, variable: str, extra: list[str], tls_server: TlsServer, server: Server, pki: Pki,
    tmp_path: Path,
) -> None:
    secure, plain = tmp_path / "tls.wav", tmp_path / "plain.wav"
    trusted = pki.ca_dir if variable == "SSL_CERT_DIR" else pki.ca
    over_tls = run_cli([*command_args(command, secure), *extra],
                       tls_env(tls_server.server, tmp_path, **{variable: str(trusted)}))
    assert over_tls.returncode == 0, over_tls.stderr.decode()
    over_http = run_cli([*command_args(command, plain), *extra], tls_env(server, tmp_path))
    assert over_http.returncode == 0, over_http.stderr.decode()
    if command == "voices":
        assert over_tls.stdout == over_http.stdout and b'"voiceId"' in over_tls.stdout
    else:
        assert secure.read_bytes() == plain.read_bytes() and secure.stat().st_size > 100_000


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws", "voices"])
def test_an_untrusted_certificate_is_one_line_exit_6_not_retried(
    command: str, tls_server: TlsServer, tmp_path: Path
) -> None:
    """Without the CA: one line naming the problem and the way to trust a private CA, no traceback,
    and no retry (the server sees one failed handshake: a retry would also print a line)."""
    before = tls_server.handshake_failures()
    result = run_cli(command_args(command, tmp_path / "out.wav"), tls_env(tls_server.server, tmp_path))
    assert result.returncode == 6, result.stderr.decode()
    scheme = "wss" if command == "stream-ws" else "https"
    assert one_line(result.stderr).startswith(f"smallest: error: cannot reach {scheme}://127.0.0.1:")
    assert one_line(result.stderr).endswith(
        ": TLS certificate verify failed: unable to get local issuer certificate "
        "(to trust a private CA, point SSL_CERT_FILE at its PEM file)"
    )
    wait_until(lambda: tls_server.handshake_failures() > before, message="the server's log line")
    assert tls_server.handshake_failures() == before + 1


def test_failed_handshakes_are_logged_and_the_server_keeps_serving(
    tls_server: TlsServer, pki: Pki, tmp_path: Path
) -> None:
    """A plain-http client, a client that rejects the certificate and one that sends garbage: one
    log line each; the next client is served."""
    host, port = "127.0.0.1", int(tls_server.server.url.rsplit(":", 1)[1])
    before = tls_server.handshake_failures()
    with socket.create_connection((host, port), timeout=10) as plain:
        plain.sendall(b"GET /waves/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        plain.recv(1024)  # the server closes the connection
    with socket.create_connection((host, port), timeout=10) as garbage:
        garbage.sendall(b"\x16\x03\x01\x00\x05hello")
        garbage.recv(1024)
    strict = ssl.create_default_context()  # not trusting the test CA
    with socket.create_connection((host, port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            strict.wrap_socket(raw, server_hostname=host)
    wait_until(lambda: tls_server.handshake_failures() >= before + 3, message="three log lines")
    lines = tls_server.log.read_bytes().splitlines()
    assert any(b"HTTP_REQUEST" in line for line in lines), lines
    assert any(b"TLSV1_ALERT_UNKNOWN_CA" in line for line in lines), lines
    result = run_cli(["stream-ws", "Still serving.", "-o", str(tmp_path / "after.wav")],
                     tls_env(tls_server.server, tmp_path, SSL_CERT_FILE=str(pki.ca)))
    assert result.returncode == 0, result.stderr.decode()


#: The CLI, noting per TLS socket the order of its reads and writes: "GET" once the upgrade is
#: written, "recv" when a read starts.
TLS_ORDER_PROBE = cli_probe("""
import ssl
import threading

lock = threading.Lock()
order = {}
sockets = []
sendall, recv = ssl.SSLSocket.sendall, ssl.SSLSocket.recv


def note(sock, what):
    with lock:
        if id(sock) not in order:
            sockets.append(sock)  # no id reused by a later socket
        order.setdefault(id(sock), []).append(what)


def noting_sendall(self, data, *args):
    result = sendall(self, data, *args)
    note(self, "GET" if bytes(data[:4]) == b"GET " else "send")
    return result


def noting_recv(self, *args, **kwargs):
    note(self, "recv")
    return recv(self, *args, **kwargs)


ssl.SSLSocket.sendall, ssl.SSLSocket.recv = noting_sendall, noting_recv
""", "len(order), sorted({seen[0] for seen in order.values()})")


@pytest.mark.parametrize("extra", [[], ["--concurrency", "3"]], ids=["one at a time", "concurrency 3"])
def test_every_upgrade_is_written_before_the_socket_is_read(
    extra: list[str], tls_server: TlsServer, pki: Pki, tmp_path: Path
) -> None:
    """OpenSSL forbids a read and a write on one TLS connection at once, and websockets reads in
    a thread of its own from the start: an upgrade written after that could cross the read (the
    server's session tickets arriving), and such upgrades went unanswered, hanging a run."""
    env = tls_env(tls_server.server, tmp_path, SSL_CERT_FILE=str(pki.ca))
    out = subprocess.run(
        [sys.executable, "-c", TLS_ORDER_PROBE, "stream-ws", TEXT, "-o", str(tmp_path / "a.wav"), *extra],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
    )
    code, connections, orders = out.stdout.rsplit("RESULT:", 1)[1].strip().split(" ", 2)
    assert code == "0", out.stdout + out.stderr
    assert int(connections) >= 2
    assert orders.strip() == "['GET']", out.stdout  # on every socket, before any read


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smallest_cli", "serve", "--port", "0", *args],
                          capture_output=True, text=True, timeout=30, cwd=ROOT)


def test_serve_refuses_a_certificate_it_cannot_use(pki: Pki, tmp_path: Path) -> None:
    alone = _serve("--tls-cert", str(pki.cert))
    assert (alone.returncode, alone.stderr) == (2, "smallest: error: --tls-cert and --tls-key go together\n")
    missing = _serve("--tls-cert", str(pki.cert), "--tls-key", str(tmp_path / "none.pem"))
    assert missing.returncode == 2
    assert missing.stderr.endswith("none.pem: No such file or directory\n")
    mismatch = _serve("--tls-cert", str(pki.cert), "--tls-key", str(pki.ca.with_name("ca.key")))
    assert mismatch.returncode == 2 and mismatch.stdout == ""
    assert mismatch.stderr.splitlines() == [
        f"smallest: error: cannot load the TLS certificate {pki.cert} with the key "
        f"{pki.ca.with_name('ca.key')}: [X509: KEY_VALUES_MISMATCH] key values mismatch"
    ]


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_an_unusable_ca_file_is_a_usage_error(variable: str, tls_server: TlsServer, pki: Pki,
                                              tmp_path: Path) -> None:
    env = tls_env(tls_server.server, tmp_path, **{variable: str(pki.key)})  # a key, not a certificate
    result = run_cli(["stream-ws", "Hi.", "-o", str(tmp_path / "x.wav")], env)
    assert result.returncode == 2
    assert one_line(result.stderr) == f"smallest: error: {variable}={pki.key} holds no PEM certificate"
