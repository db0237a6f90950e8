"""`--debug` request logs: what is sent to the server and what comes back, on stderr.

Each line starts with `smallest: debug:`. The API key is shown only redacted (`Secret.redacted()`),
audio only as its byte length (never the base64). A `DebugLog` is created by the command when
--debug is given and passed to the transports; without --debug they get None and log nothing.
Stdlib only, imported only under --debug.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any, TextIO

from smallest_cli.options.settings import Secret
from smallest_cli.protocol import contract

PREFIX = "smallest: debug: "



def audio_bytes(b64: str) -> int:
    """The length of the audio a base64 string holds (without decoding it)."""
    compact = "".join(b64.split()).rstrip("=")
    return len(compact) * 3 // 4


def _audio_of(obj: Mapping[str, Any]) -> str | None:
    """The base64 audio of a chunk frame or SSE audio event, if it is one."""
    data = obj.get("data")
    for holder in (data if isinstance(data, Mapping) else {}, obj):
        audio = holder.get("audio")
        if isinstance(audio, str):
            return audio
    return None


def describe_frame(text: str | bytes, kind: str | None = None) -> str:
    """A received frame or event, for the log: chunks as their audio's byte length, the rest in full.
    Labelled `kind` (an SSE event's name), else by the frame's status."""
    if isinstance(text, (bytes, bytearray)):
        return f"binary frame ({len(text)} bytes)"
    try:
        obj = json.loads(text)
    except ValueError:
        return f"not JSON: {text[:200]!r}"
    if not isinstance(obj, dict):
        return text
    audio = _audio_of(obj)
    status = kind or obj.get("status")
    label = f"{status}: " if isinstance(status, str) and status else ""
    if audio is not None:
        return f"{label}{audio_bytes(audio)} bytes of audio"
    return f"{label}{text}"


class DebugLog:
    """Writes request logs to `stream` (stderr). Safe to call from several threads."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            try:
                self._stream.write(PREFIX + text + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass

    def request(self, method: str, url: str, api_key: Secret | None, body: Any = None) -> None:
        """The request line, its Authorization header (redacted) and its JSON body, if any."""
        self.line(f"{method} {url}")
        if api_key is not None:
            self.line(f"Authorization: Bearer {api_key.redacted()} (redacted)")
        if body is not None:
            self.line(f"body: {json.dumps(body, ensure_ascii=False)}")

    def response(self, status: int, headers: Mapping[str, str]) -> None:
        # The service's session, and the client's own ids as the service echoes them.
        echoed = [name for name in contract.ID_HEADERS.values() if headers.get(name)]
        ids = "".join(f", {name}: {headers[name]}" for name in echoed)
        rid = headers.get(contract.REQUEST_ID_HEADER) or "-"
        self.line(f"response {status}, {contract.REQUEST_ID_HEADER}: {rid}{ids}")

    def sent(self, message: str) -> None:
        """A WebSocket message sent (its JSON text)."""
        self.line(f"send: {message}")

    def received(self, frame: str | bytes, kind: str | None = None) -> None:
        """A WebSocket frame or SSE event (named `kind`) received."""
        self.line(f"recv {describe_frame(frame, kind)}")
