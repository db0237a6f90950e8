"""WebSocket `/waves/v1/tts/live`: JSON requests in, chunk / word_timestamp / complete / error out.

One reader task receives messages (journaling them and keeping the idle clock), one worker task
handles them in order, so several requests can follow each other on one socket. Streaming input:
pieces with `continue: true` are buffered; a unit is synthesized on `flush`, at a sentence end,
when the buffer would pass the text limit, after `max_buffer_flush_ms` without input, or with the
final message (`continue` false), which also ends the request with `complete`, sent
`complete_backoff_ms` after the last chunk. After `complete` the server closes the socket, as the
reference says (tts-ws.yaml: "the server closes the WebSocket after this"), unless the server runs
with `keep_open`, the older reading in which one socket serves request after request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from smallest_cli.protocol import contract
from smallest_cli.protocol.voices import WORD_TIMESTAMP_VOICES
from smallest_cli.server.faults import Fault
from smallest_cli.server.http_common import (
    STATUS_MESSAGES,
    abort_connection,
    error_json,
    get_state,
    rate_limited,
    stall,
    status_fault_response,
)
from smallest_cli.server.pacing import Pacer
from smallest_cli.server.render import new_take, render, unit_plan
from smallest_cli.server.state import ServerState
from smallest_cli.server.stream_plan import ChunkItem, WordItem
from smallest_cli.server.validation import TtsRequest, ValidationFailed, parse_tts_body

#: aiohttp itself refuses frames above this (close code 1009); between 64 KiB and this, an error frame.
HARD_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MALFORMED_FRAME = '{"status": "chunk", "data": {"audio": "%%%not base64'
_SENTENCE_END = re.compile(r"[.!?…](?=\s)")


class _Closed(Exception):
    """The socket is gone (dropped by a fault, closed by the client, or closed by us)."""


@dataclass(frozen=True)
class _Inbound:
    text: str | None = None
    error: str | None = None
    code: str | None = None


@dataclass
class _OpenRequest:
    req: TtsRequest
    request_id: str
    fault: Fault | None
    #: The take every unit of this request is rendered with (see `render.new_take`).
    take: int = 0
    buffer: str = ""
    units: int = 0
    time_offset: float = 0.0
    word_offset: int = 0
    chunks_sent: int = 0
    fault_applied: bool = False
    last_input: float = field(default_factory=time.monotonic)


#: The longest idle timeout kept: tts-ws.yaml takes "any positive integer (seconds)", and a
#: timer far beyond any session would only risk overflowing the event loop's clock.
MAX_IDLE_TIMEOUT_S = 10_000_000.0


def parse_idle_timeout(request: web.Request, default: float) -> float:
    """`?timeout=N`: any positive number of seconds (fractions too, for tests), at most
    MAX_IDLE_TIMEOUT_S; ValueError for anything else."""
    raw = request.query.get("timeout")
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:  # NaN too
        raise ValueError("timeout must be a number of seconds greater than 0")
    return min(value, MAX_IDLE_TIMEOUT_S)


#: concurrency-and-limits.mdx: "up to 5 WebSocket connections simultaneously (5 × concurrency limit)".
WS_CONNECTIONS_PER_SLOT = 5


async def ws_tts(request: web.Request) -> web.StreamResponse:
    state = get_state(request)
    fault = state.faults.take("ws_connect", None)
    if fault is not None:
        return status_fault_response(fault)
    try:
        idle_timeout = parse_idle_timeout(request, state.config.idle_timeout)
    except ValueError as err:
        return error_json(400, {"error": str(err)})
    cap = state.config.max_concurrency * WS_CONNECTIONS_PER_SLOT
    if cap and len(state.websockets) >= cap:
        state.journal.bump("rejected_429")
        return rate_limited(1.0, f"Too many WebSocket connections: at most {cap} at once")
    ws = web.WebSocketResponse(max_msg_size=HARD_MAX_MESSAGE_BYTES, autoping=True, compress=False)
    state.websockets.add(ws)  # before the upgrade's await, so that two at once both count
    try:
        await ws.prepare(request)
        session = WsSession(state, request, ws, state.journal.new_ws_connection(), idle_timeout)
        await session.run()
    finally:
        state.websockets.discard(ws)
    return ws


class WsSession:
    def __init__(
        self, state: ServerState, request: web.Request, ws: web.WebSocketResponse, conn_id: str, idle: float
    ) -> None:
        self.state = state
        self.request = request
        self.ws = ws
        self.conn_id = conn_id
        self.idle_timeout = idle
        self.session_id = uuid.uuid4().hex
        self.queue: asyncio.Queue[_Inbound] = asyncio.Queue()
        self.busy = False
        self.open: _OpenRequest | None = None
        self.dropped = False
        self.close_code = 1000
        self.close_message = ""

    # --- tasks ---------------------------------------------------------------------------------

    async def run(self) -> None:
        reader = asyncio.create_task(self._reader())
        worker = asyncio.create_task(self._worker())
        try:
            done, _ = await asyncio.wait({reader, worker}, return_when=asyncio.FIRST_COMPLETED)
            if worker in done and not self.dropped and not self.ws.closed:
                # The worker ended the conversation (auth fault, no_terminator): close, which also
                # wakes the reader.
                await self.ws.close(code=self.close_code, message=self.close_message.encode()[:120])
            if not self.dropped:
                await asyncio.wait({reader}, timeout=5.0)
        finally:
            for task in (reader, worker):
                task.cancel()
            await asyncio.gather(reader, worker, return_exceptions=True)
            self._end_request()
            if not self.ws.closed and not self.dropped:
                await self.ws.close()

    async def _reader(self) -> None:
        limit = contract.MAX_MESSAGE_BYTES
        while True:
            try:
                msg = await self.ws.receive(timeout=self.idle_timeout)
            except asyncio.TimeoutError:
                if self.busy or not self.queue.empty():
                    continue
                await self._idle_timeout()
                return
            if msg.type == WSMsgType.TEXT:
                self.state.journal.bump("ws_messages")
                text: str = msg.data
                if len(text) > limit and len(text.encode("utf-8")) > limit:
                    self.state.journal.record("ws", self.conn_id, raw=f"<{len(text)} characters: too large>")
                    self.queue.put_nowait(
                        _Inbound(error=f"Message too large (limit {limit} bytes)", code="message_too_large")
                    )
                else:
                    self.queue.put_nowait(_Inbound(text=text))
            elif msg.type == WSMsgType.BINARY:
                self.state.journal.bump("ws_messages")
                self.state.journal.record("ws", self.conn_id, raw=f"<binary message, {len(msg.data)} bytes>")
                self.queue.put_nowait(
                    _Inbound(
                        error="Binary messages are not supported; send JSON text", code="invalid_message"
                    )
                )
            else:  # CLOSE, CLOSING, CLOSED, ERROR
                return

    async def _idle_timeout(self) -> None:
        message = f"Connection timed out after {self.idle_timeout:g} seconds of inactivity"
        try:
            await self._send(
                {"status": "error", "message": message, "error": {"message": message, "code": "idle_timeout"}}
            )
            await self.ws.close(code=1000, message=b"idle timeout")
        except _Closed:
            pass

    async def _worker(self) -> None:
        getter: asyncio.Task[_Inbound] | None = None
        try:
            while True:
                if getter is None:
                    getter = asyncio.ensure_future(self.queue.get())
                done, _ = await asyncio.wait({getter}, timeout=self._flush_wait())
                self.busy = True
                try:
                    if getter in done:
                        item = getter.result()
                        getter = None
                        await self._handle(item)
                    else:
                        await self._timer_flush()
                finally:
                    self.busy = False
        except _Closed:
            return
        finally:
            if getter is not None:
                getter.cancel()

    # --- sending -------------------------------------------------------------------------------

    async def _send(self, frame: dict[str, Any]) -> None:
        if self.ws.closed or self.dropped:
            raise _Closed
        try:
            await self.ws.send_str(json.dumps(frame))
        except (ConnectionError, RuntimeError) as err:
            raise _Closed from err

    def _ids(self, open_req: _OpenRequest | None) -> dict[str, Any]:
        if open_req is None:
            return {"session_id": self.session_id}
        return self._request_ids(open_req.request_id, open_req.req)

    def _request_ids(self, request_id: str, req: TtsRequest) -> dict[str, Any]:
        """The ids every frame of a request carries; the client's own ones only when it sent them
        (tts-ws.yaml: "omitted if not provided")."""
        ids: dict[str, Any] = {"session_id": self.session_id, "request_id": request_id}
        if req.request_id:
            ids["external_request_id"] = req.request_id
        if req.session_id:
            ids["external_session_id"] = req.session_id
        return ids

    async def _send_error(self, message: str, code: str, extra: dict[str, Any] | None = None) -> None:
        error: dict[str, Any] = {"message": message, "code": code, **(extra or {})}
        await self._send({"status": "error", "message": message, "error": error, **self._ids(self.open)})

    # --- requests ------------------------------------------------------------------------------

    async def _handle(self, item: _Inbound) -> None:
        if item.text is None:
            await self._send_error(item.error or "invalid message", item.code or "invalid_message")
            return
        try:
            body = json.loads(item.text)
        except ValueError as err:
            self.state.journal.record("ws", self.conn_id, raw=item.text)
            await self._send_error(f"Invalid JSON: {err}", "invalid_json")
            return
        self.state.journal.record("ws", self.conn_id, body=body)
        try:
            req = parse_tts_body(
                body, self.state.voices, allow_empty_text=True, defaults=self.open.req if self.open else None
            )
        except ValidationFailed as failed:
            self.state.journal.bump("bad_requests")
            await self._send_error(f"Validation failed: {failed}", "400", {"issues": failed.issues})
            return
        if self.open is None:
            if not req.text and not req.cont:
                # Nothing to say: the request ends at once, with no chunk to wait after.
                await self._send_complete(self._request_ids(uuid.uuid4().hex, req))
                return
            if not await self._start(req):
                return
        assert self.open is not None
        self.open.buffer += req.text
        self.open.last_input = time.monotonic()
        if not req.cont:
            await self._flush(final=True)
            await self._complete(req.complete_backoff_ms)
        elif req.flush:
            await self._flush(final=False)
        else:
            await self._auto_flush()

    async def _start(self, req: TtsRequest) -> bool:
        state = self.state
        state.journal.bump("requests")
        state.journal.bump("ws_requests")
        fault = state.faults.take("ws", req.text)
        if fault is not None and fault.kind == "status":
            message = fault.message or STATUS_MESSAGES.get(fault.status, "error")
            extra = {"retry_after": fault.retry_after} if fault.status == 429 else {}
            await self._send_error(message, str(fault.status), extra)
            if fault.status in (401, 403):
                self.close_code, self.close_message = 1008, message
                raise _Closed
            return False
        if not state.limiter.try_acquire():
            state.journal.bump("rejected_429")
            await self._send_error(STATUS_MESSAGES[429], "429", {"retry_after": 1.0})
            return False
        self.open = _OpenRequest(
            req=req,
            request_id=uuid.uuid4().hex,
            fault=fault,
            take=new_take(state.config.varied_takes),
        )
        return True

    def _end_request(self) -> None:
        if self.open is not None:
            self.open = None
            self.state.limiter.release()

    async def _complete(self, backoff_ms: int) -> None:
        """End the open request: `complete` `backoff_ms` after its last chunk (tts-ws.yaml,
        `complete_backoff_ms`), then close unless the server keeps sockets open."""
        open_req = self.open
        assert open_req is not None
        fault = open_req.fault
        if fault is not None and not open_req.fault_applied:
            open_req.fault_applied = True
            await self._apply_fault(fault)
        ids = self._ids(open_req)
        self._end_request()
        if fault is not None and fault.kind == "no_terminator":
            self.close_code, self.close_message = 1000, ""
            raise _Closed
        if open_req.chunks_sent and backoff_ms:
            await stall(self.state, lambda: self.ws.closed or self.dropped, backoff_ms)
        await self._send_complete(ids)

    async def _send_complete(self, ids: dict[str, Any]) -> None:
        """The reference's `complete` frame (tts-ws.yaml `CompletionStatus`: status and ids, never
        `done`), then the close that follows it unless the server keeps sockets open."""
        await self._send({"status": "complete", **ids})
        if not self.state.config.keep_open:
            self.close_code, self.close_message = 1000, ""
            raise _Closed

    # --- streaming input -----------------------------------------------------------------------

    def _flush_wait(self) -> float | None:
        open_req = self.open
        if open_req is None or not open_req.req.max_buffer_flush_ms or not open_req.buffer.strip():
            return None
        due = open_req.last_input + open_req.req.max_buffer_flush_ms / 1000.0
        return max(0.0, due - time.monotonic())

    async def _timer_flush(self) -> None:
        open_req = self.open
        if open_req is None or not open_req.buffer.strip():
            return
        cut = max(open_req.buffer.rfind(" "), open_req.buffer.rfind("\n"))
        text = open_req.buffer if cut <= 0 else open_req.buffer[: cut + 1]
        await self._synthesize(text, final=False)

    async def _auto_flush(self) -> None:
        open_req = self.open
        assert open_req is not None
        while True:
            buffer = open_req.buffer
            ends = list(_SENTENCE_END.finditer(buffer))
            if ends:
                await self._synthesize(buffer[: ends[-1].end()], final=False)
            elif len(buffer) > contract.MAX_TEXT_CHARS:
                head = buffer[: contract.MAX_TEXT_CHARS]
                cut = head.rfind(" ")
                await self._synthesize(head if cut <= 0 else head[: cut + 1], final=False)
            else:
                return

    async def _flush(self, final: bool) -> None:
        open_req = self.open
        assert open_req is not None
        while len(open_req.buffer) > contract.MAX_TEXT_CHARS:
            await self._auto_flush()
        await self._synthesize(open_req.buffer, final=final)

    async def _synthesize(self, text: str, final: bool) -> None:
        """Synthesize `text` (a prefix of the buffer) as one unit and stream it."""
        open_req = self.open
        assert open_req is not None
        open_req.buffer = open_req.buffer[len(text) :]
        if not text.strip():
            return
        req = open_req.req
        pacer = Pacer(self.state.config.pacing)
        single = final and open_req.units == 0
        unit = await render(
            self.state.engine,
            self.state.voice(req.voice_id),
            req,
            text,
            wav_header=open_req.units == 0,
            wav_size_known=single,
            take=open_req.take,
        )
        items = unit_plan(
            unit, req, self.state.config.pacing.chunk_ms, open_req.time_offset, open_req.word_offset
        )
        open_req.units += 1
        open_req.time_offset += unit.duration
        open_req.word_offset += len(unit.words)
        words_wanted = req.word_timestamps and req.voice_id in WORD_TIMESTAMP_VOICES
        ids = self._ids(open_req)
        fault = open_req.fault
        for item in items:
            if isinstance(item, WordItem):
                if words_wanted:
                    w = item.word
                    data = {"id": w.id, "word": w.word, "start": w.start, "end": w.end}
                    await self._send({"status": "word_timestamp", "data": data, **ids})
                continue
            assert isinstance(item, ChunkItem)
            if (
                fault is not None
                and not open_req.fault_applied
                and open_req.chunks_sent >= fault.after_chunks
            ):
                open_req.fault_applied = True
                await self._apply_fault(fault)
            await pacer.wait(item.at)
            audio = base64.b64encode(item.data).decode("ascii")
            await self._send({"status": "chunk", "data": {"audio": audio}, **ids})
            open_req.chunks_sent += 1

    async def _apply_fault(self, fault: Fault) -> None:
        if fault.kind == "drop":
            self.dropped = True
            abort_connection(self.request)
            raise _Closed
        if fault.kind == "stall":
            await stall(self.state, lambda: self.ws.closed or self.dropped, fault.stall_ms)
        elif fault.kind == "malformed":
            if self.ws.closed:
                raise _Closed
            try:
                await self.ws.send_str(MALFORMED_FRAME)
            except (ConnectionError, RuntimeError) as err:
                raise _Closed from err
