"""The SSE endpoint (`POST /waves/v1/tts/live`, `Accept: text/event-stream`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from smallest_cli.errors import ProtocolError, SmallestError
from smallest_cli.events import Done, Event
from smallest_cli.protocol import contract
from smallest_cli.protocol.http_errors import response_request_id
from smallest_cli.protocol.sse import SseParser, sse_events
from smallest_cli.transports.base import stall_error
from smallest_cli.transports.http_common import (
    HttpTransport,
    content_type,
    done_from_headers,
    finish_body,
    iter_body,
    wrong_content_type,
)


def _not_events(ctype: str) -> bool:
    """A media type that is surely no event stream (an error page, audio): a proxy may relabel the
    stream itself (text/plain, application/octet-stream), which is still parsed."""
    pages = ("application/json", "application/xml", "text/html", "text/xml")
    media = ctype.startswith(("audio/", "image/", "video/"))
    return ctype in pages or ctype.endswith(("+json", "+xml")) or media


class SseTransport(HttpTransport):
    """One streaming POST per request; audio events become AudioChunks, `{"done": true}` ends it.
    A stream that ends before `done` is truncated (ProtocolError)."""

    name = "sse"

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        resp = self._post(contract.LIVE_PATH, body, accept="text/event-stream")
        if _not_events(content_type(resp)):
            raise wrong_content_type(resp, "an event stream")
        request_id = response_request_id(resp.headers)
        parser = SseParser()
        timeout = self._conn.timeout
        # Only events put the stall off: comments (`: keepalive`) every few seconds and nothing
        # else must still time out, though each one keeps the socket's own timeout from firing.
        deadline = time.monotonic() + timeout
        try:
            for data in iter_body(resp, timeout):
                progressed = False
                for msg in parser.feed(data):
                    if self._log is not None:
                        self._log.received(msg.data, msg.event or "message")
                    for event in sse_events(msg, request_id=request_id):
                        if isinstance(event, Done):
                            finish_body(resp)  # before yielding: the consumer may stop at Done
                            yield done_from_headers(resp.headers, event.request_id)
                            return
                        progressed = True
                        yield event
                now = time.monotonic()
                if progressed:
                    deadline = now + timeout
                elif now > deadline:
                    raise stall_error(timeout)
        except SmallestError as err:
            if err.request_id is None:
                err.request_id = request_id
            raise
        finally:
            resp.close()
        raise ProtocolError("stream ended before done (truncated)", request_id=request_id)
