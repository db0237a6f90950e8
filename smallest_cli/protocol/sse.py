"""Server-sent events: an incremental parser (per the WHATWG SSE standard) and the Waves event mapping.

Pure code: feed it the bytes as they arrive, get back complete messages.

    parser = SseParser()
    for block in response_body:
        for msg in parser.feed(block):
            for event in sse_events(msg, request_id=x_request_id):
                ...
    parser.finish()   # end of stream; a stream without a Done event is truncated (caller's check)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from smallest_cli.errors import ProtocolError
from smallest_cli.events import AudioChunk, Done, Event
from smallest_cli.protocol.frames import decode_audio_b64
from smallest_cli.protocol.http_errors import error_for_message, error_from_payload, one_line

#: A single line longer than this is a broken or hostile stream (an audio event is ~1.4 KB).
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024

_CR = 0x0D
_LF = 0x0A


class SseMessage(NamedTuple):
    """One dispatched event. `id` is the stream's last event id at dispatch time (None if never set)."""

    event: str
    data: str
    id: str | None = None


@dataclass
class SseParser:
    """Incremental SSE parser. `feed()` bytes in any split; each complete event comes out once.

    Line ends may be LF, CRLF or CR, including a CR at the end of one feed and its LF at the start of
    the next. UTF-8 split across feeds is decoded correctly (bytes are only decoded per whole line).
    """

    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    #: Reconnection time the server asked for (`retry:` field), in milliseconds.
    retry_ms: int | None = None
    _buf: bytearray = field(default_factory=bytearray, repr=False)
    _skip_lf: bool = field(default=False, repr=False)
    _at_start: bool = field(default=True, repr=False)
    _event: str = field(default="", repr=False)
    _data: list[str] = field(default_factory=list, repr=False)
    _last_id: str | None = field(default=None, repr=False)
    _partial: bool = field(default=False, repr=False)

    @property
    def incomplete(self) -> bool:
        """True when bytes or fields of an event not yet ended by a blank line are buffered."""
        return bool(self._buf) or self._partial

    def feed(self, data: bytes) -> list[SseMessage]:
        """Add bytes; return the events completed by them (possibly none)."""
        out: list[SseMessage] = []
        if not data:
            return out
        if self._skip_lf:
            self._skip_lf = False
            if data[0] == _LF:
                data = data[1:]
        if b"\r" in data:
            # Every line end becomes LF; a CR that ends the feed may be the first half of a CRLF.
            self._skip_lf = data[-1] == _CR
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf
        end = data.rfind(b"\n")
        if end >= 0:
            # An LF is never inside a UTF-8 sequence, so decoding the whole lines at once decodes
            # each the same as alone, and costs one call instead of one per line.
            if buf:
                buf += data[:end]
                text = buf.decode("utf-8", errors="replace")
                buf.clear()
            else:
                text = data[:end].decode("utf-8", errors="replace")
            data = data[end + 1 :]
            for line in text.split("\n"):
                self._line(line, out)
        buf += data
        if len(buf) > self.max_line_bytes:
            size = len(buf)
            buf.clear()
            raise ProtocolError(
                f"malformed event stream: a line exceeds {self.max_line_bytes} bytes ({size})"
            )
        return out

    def finish(self) -> list[SseMessage]:
        """End of stream. Per the standard an event not ended by a blank line is discarded; check
        `incomplete` before calling to detect that. Returns [] (kept a list for symmetry)."""
        self._buf.clear()
        self._skip_lf = False
        self._event = ""
        self._data = []
        self._partial = False
        return []

    def _line(self, line: str, out: list[SseMessage]) -> None:
        if self._at_start:
            self._at_start = False
            if line.startswith("\ufeff"):
                line = line[1:]
        if not line:
            self._dispatch(out)
            return
        colon = line.find(":")
        if colon == 0:
            return  # a comment
        if colon < 0:
            name, value = line, ""
        else:  # one copy of the value, which is most of an audio event
            name = line[:colon]
            value = line[colon + 2 :] if line.startswith(" ", colon + 1) else line[colon + 1 :]
        self._partial = True
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self.retry_ms = int(value)
        # Other field names are ignored, as the standard says.

    def _dispatch(self, out: list[SseMessage]) -> None:
        data, event = self._data, self._event
        self._data, self._event, self._partial = [], "", False
        if not data:
            return
        out.append(SseMessage(event=event or "message", data="\n".join(data), id=self._last_id))


def _preview(text: str) -> str:
    return one_line(text, 80)


def _is_error(obj: dict[str, Any]) -> bool:
    if obj.get("error") not in (None, False, "", []):
        return True
    if obj.get("status") == "error":
        return True
    return "message" in obj and "audio" not in obj and obj.get("done") is not True


def sse_events(msg: SseMessage, *, request_id: str | None = None) -> list[Event]:
    """The typed events in one Waves SSE message.

    `{"audio": b64}` → [AudioChunk] (`"done": false, "status": "206"` alongside are fine);
    `{"done": true}` → [Done] (after an AudioChunk if the same object also carries audio);
    error payloads raise the mapped SmallestError; malformed or unknown data raises ProtocolError.
    `request_id` (from the X-Request-Id header) is attached to Done and errors when the data has none.
    """
    text = msg.data.strip()
    if msg.event == "error" and not text.startswith("{"):
        raise error_for_message(text or "error event with no message", request_id=request_id)
    try:
        obj = json.loads(text)
    except ValueError:
        raise ProtocolError(
            f"malformed SSE event {msg.event!r}: data is not JSON: {_preview(text)!r}", request_id=request_id
        ) from None
    if not isinstance(obj, dict):
        raise ProtocolError(
            f"malformed SSE event {msg.event!r}: expected a JSON object, got {_preview(text)!r}",
            request_id=request_id,
        )
    rid = obj.get("request_id")
    if isinstance(rid, str) and rid:
        request_id = rid
    if msg.event == "error" or _is_error(obj):
        raise error_from_payload(obj, request_id=request_id)
    events: list[Event] = []
    known = False
    if "audio" in obj:
        known = True
        audio = decode_audio_b64(obj["audio"], request_id=request_id)
        if audio:
            events.append(AudioChunk(audio))
    done = obj.get("done")
    if done is True:
        events.append(Done(request_id=request_id))
        known = True
    elif done is False:
        known = True
    elif done is not None:
        raise ProtocolError(f"malformed SSE event: done is {done!r}, not a boolean", request_id=request_id)
    if not known:
        raise ProtocolError(f"unknown SSE event {msg.event!r}: {_preview(text)!r}", request_id=request_id)
    return events
