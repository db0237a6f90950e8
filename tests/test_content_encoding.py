"""A compressed response body: the CLI asks for none, decodes what a proxy compresses anyway, and
stops at once on an encoding it cannot decode, instead of writing the compressed bytes as audio.

`smallest serve` never compresses (nor does the published contract), so a small HTTP server on a real
socket plays the proxy here: it answers every request with the same audio, compressed.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from smallest_cli.errors import EXIT_SERVER
from smallest_cli.protocol import contract
from tests.helpers import cli_env, run_cli

PCM = bytes(range(256)) * 40
CODINGS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "compress": lambda body: body,  # LZW, which urllib3 never decodes: the bytes do not matter
}


def _sse_body() -> bytes:
    events = [
        b"event: audio\ndata: "
        + json.dumps({"audio": base64.b64encode(PCM[i : i + 960]).decode(), "done": False}).encode()
        + b"\n\n"
        for i in range(0, len(PCM), 960)
    ]
    return b"".join(events) + b'data: {"done": true}\n\n'


class CompressingProxy(ThreadingHTTPServer):
    coding = "gzip"
    accept_encodings: list[str | None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CompressingProxy

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.accept_encodings.append(self.headers.get("Accept-Encoding"))
        sse = self.path == contract.LIVE_PATH
        body = CODINGS[self.server.coding](_sse_body() if sse else PCM)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if sse else "audio/wav")
        self.send_header("Content-Encoding", self.server.coding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def proxy() -> Iterator[CompressingProxy]:
    server = CompressingProxy(("127.0.0.1", 0), _Handler)
    server.accept_encodings = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _env(proxy: CompressingProxy, tmp_path: Path) -> dict[str, str]:
    host, port = proxy.server_address[:2]
    return cli_env(None, tmp_path, SMALLEST_BASE_URL=f"http://{host}:{port}", SMALLEST_API_KEY="sk_test")


@pytest.mark.parametrize("command", ["speak", "stream-sse"])
@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_compressed_body_is_decoded_into_the_same_audio(
    proxy: CompressingProxy, tmp_path: Path, command: str, coding: str
) -> None:
    proxy.coding = coding
    out = tmp_path / "out.pcm"
    done = run_cli([command, "Hello there", "-o", str(out), "--format", "pcm"], _env(proxy, tmp_path))
    assert done.returncode == 0, done.stderr.decode()
    assert out.read_bytes() == PCM
    assert proxy.accept_encodings == ["identity"]


@pytest.mark.parametrize("command", ["speak", "stream-sse"])
def test_an_encoding_that_cannot_be_decoded_is_one_error_and_no_retry(
    proxy: CompressingProxy, tmp_path: Path, command: str
) -> None:
    proxy.coding = "compress"
    out = tmp_path / "out.pcm"
    done = run_cli([command, "Hello there", "-o", str(out), "--format", "pcm"], _env(proxy, tmp_path))
    assert done.returncode == EXIT_SERVER
    assert done.stderr.decode().splitlines() == [
        "smallest: error: the server compressed its response with compress, which cannot be decoded here"
    ]
    assert not out.exists() and not list(tmp_path.glob("out.pcm*"))
    assert proxy.accept_encodings == ["identity"]
