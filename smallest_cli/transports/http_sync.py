"""The synchronous endpoint (`POST /waves/v1/tts`): the whole audio as one response body, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from smallest_cli.errors import ProtocolError
from smallest_cli.events import AudioChunk, Event
from smallest_cli.protocol import contract
from smallest_cli.protocol.http_errors import response_request_id
from smallest_cli.protocol.wav import WavBody
from smallest_cli.transports.http_common import (
    HttpTransport,
    content_type,
    done_from_headers,
    iter_body,
    wrong_content_type,
)


class SyncHttpTransport(HttpTransport):
    """One POST per request; the body's samples are AudioChunks (a WAV header dropped: the reference
    describes the body as a WAV file, the live service was seen to send raw PCM). A body shorter
    than its Content-Length is truncated (ProtocolError)."""

    name = "http"

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        resp = self._post(contract.TTS_PATH, body, accept="audio/wav")
        request_id = response_request_id(resp.headers)
        ctype = content_type(resp)
        if ctype and not ctype.startswith("audio/") and ctype != "application/octet-stream":
            raise wrong_content_type(resp, "audio")
        # A compressed body's Content-Length counts compressed bytes (urllib3 enforces it then).
        expected = None if resp.raw.decode_content else _content_length(resp.headers.get("Content-Length"))
        received = 0
        samples = WavBody(body["sample_rate"])
        try:
            for data in iter_body(resp, self._conn.timeout):
                received += len(data)
                pcm = samples.feed(data)
                if pcm:
                    yield AudioChunk(pcm)
            if expected is not None and received < expected:
                raise ProtocolError(f"the response ended after {received} of {expected} bytes (truncated)")
            tail = samples.finish()
        except ProtocolError as err:
            err.request_id = err.request_id or request_id
            raise
        if tail:
            yield AudioChunk(tail)
        yield done_from_headers(resp.headers, request_id)


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        n = int(value.strip())
    except ValueError:
        return None
    return n if n >= 0 else None
