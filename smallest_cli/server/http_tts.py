"""`POST /waves/v1/tts` (sync) and `POST /waves/v1/tts/live` (SSE)."""

from __future__ import annotations

import base64
import json
import uuid

from aiohttp import web

from smallest_cli.protocol.wav import wav_header
from smallest_cli.server.faults import Fault
from smallest_cli.server.http_common import (
    HttpAnswer,
    abort_connection,
    client_gone,
    error_json,
    get_state,
    rate_limited,
    read_json,
    request_id,
    stall,
    status_fault_response,
)
from smallest_cli.server.pacing import Pacer
from smallest_cli.server.render import RenderedUnit, new_take, render, unit_plan
from smallest_cli.server.state import ServerState
from smallest_cli.server.stream_plan import ChunkItem
from smallest_cli.server.validation import TtsRequest, ValidationFailed, parse_tts_body

#: The end of an SSE stream. tts-openapi.yaml documents `data: {"done": true}`; the live service
#: sends `{"status": "200", "done": true}` (its chunks carry `"done": false, "status": "206"`). This
#: one frame is both.
SSE_DONE = b'data: {"status": "200", "done": true}\n\n'
#: What a `malformed` fault sends instead of a well-formed SSE event.
SSE_MALFORMED = b'event: audio\ndata: {"audio": "%%%not base64, and the JSON never ends\n\n'
SYNC_MALFORMED = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"


def tts_headers(request: web.Request, req: TtsRequest) -> dict[str, str]:
    """The ids a sync or SSE answer carries (tts-openapi.yaml, 200 `headers`): the server's own
    session and request ids, and the client's `session_id` / `request_id` echoed (empty if not
    given)."""
    return {
        "X-Session-Id": uuid.uuid4().hex,
        "X-Request-Id": request_id(request),
        "X-External-Session-Id": req.session_id or "",
        "X-External-Request-Id": req.request_id or "",
    }


async def _admit(request: web.Request, transport: str) -> tuple[TtsRequest, Fault | None]:
    """Parse, validate, apply status faults and the concurrency limit. The caller must release."""
    state = get_state(request)
    body = await read_json(request, transport)
    state.journal.bump("requests")
    state.journal.bump(f"{transport}_requests")
    try:
        req = parse_tts_body(body, state.voices)
    except ValidationFailed as failed:
        state.journal.bump("bad_requests")
        raise HttpAnswer(error_json(400, {"error": failed.issues})) from None
    fault = state.faults.take(transport, req.text)
    if fault is not None and fault.kind == "status":
        raise HttpAnswer(status_fault_response(fault))
    if not state.limiter.try_acquire():
        state.journal.bump("rejected_429")
        raise HttpAnswer(rate_limited(1.0))
    return req, fault


async def _render(request: web.Request, req: TtsRequest) -> RenderedUnit:
    state = get_state(request)
    take = new_take(state.config.varied_takes)
    return await render(state.engine, state.voice(req.voice_id), req, req.text, take=take)


async def sync_tts(request: web.Request) -> web.StreamResponse:
    state = get_state(request)
    req, fault = await _admit(request, "sync")
    try:
        unit = await _render(request, req)
        await Pacer(state.config.pacing).wait(unit.duration)
        headers = {"Content-Type": "audio/wav", **tts_headers(request, req)}
        if fault is not None and fault.kind == "malformed":
            return web.Response(body=SYNC_MALFORMED, headers={**headers, "Content-Type": "text/html"})
        body = _sync_body(state, req, unit)
        response = web.StreamResponse(status=200, headers=headers)
        response.content_length = len(body)
        await response.prepare(request)
        if fault is None:
            await response.write(body)
            await response.write_eof()
            return response
        await _sync_fault(request, response, req, unit, fault)
        return response
    finally:
        state.limiter.release()


def _sync_body(state: ServerState, req: TtsRequest, unit: RenderedUnit) -> bytes:
    """The sync answer: for pcm, raw samples as the live service was seen to send, or (with
    --pcm-as-wav) the reference's reading, a WAV file of them."""
    if req.output_format == "pcm" and state.config.pcm_as_wav:
        return wav_header(req.sample_rate, len(unit.body)) + unit.body
    return unit.body


async def _sync_fault(
    request: web.Request, response: web.StreamResponse, req: TtsRequest, unit: RenderedUnit, fault: Fault
) -> None:
    state = get_state(request)
    body = _sync_body(state, req, unit)
    chunks = [it for it in unit_plan(unit, req, state.config.pacing.chunk_ms) if isinstance(it, ChunkItem)]
    if fault.kind == "no_terminator":
        cut = len(body) - max(1, len(chunks[-1].data) if chunks else 1)
    else:
        cut = sum(len(c.data) for c in chunks[: fault.after_chunks])
    cut = max(0, min(cut, len(body)))
    await response.write(body[:cut])
    if fault.kind == "stall":
        await stall(state, lambda: client_gone(request), fault.stall_ms)
        if not client_gone(request):
            await response.write(body[cut:])
            await response.write_eof()
        return
    abort_connection(request)  # drop / no_terminator: the body ends short of its Content-Length


def sse_event(audio: bytes) -> bytes:
    data = json.dumps({"audio": base64.b64encode(audio).decode("ascii"), "done": False, "status": "206"})
    return b"event: audio\ndata: " + data.encode("ascii") + b"\n\n"


async def sse_tts(request: web.Request) -> web.StreamResponse:
    state = get_state(request)
    req, fault = await _admit(request, "sse")
    response: web.StreamResponse | None = None
    try:
        pacer = Pacer(state.config.pacing)
        unit = await _render(request, req)
        chunks = [
            it for it in unit_plan(unit, req, state.config.pacing.chunk_ms) if isinstance(it, ChunkItem)
        ]
        if req.output_format == "wav":
            chunks = _framed_wav(chunks, req.sample_rate)
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                **tts_headers(request, req),
            },
        )
        await response.prepare(request)
        for n, chunk in enumerate(chunks):
            if (
                fault is not None
                and n == fault.after_chunks
                and not await _sse_fault(request, response, fault)
            ):
                return response
            await pacer.wait(chunk.at)
            if client_gone(request) or state.stopping:
                return response
            await response.write(sse_event(chunk.data))
        if fault is not None and fault.after_chunks >= len(chunks):
            if not await _sse_fault(request, response, fault):
                return response
        if fault is None or fault.kind != "no_terminator":
            await response.write(SSE_DONE)
        await response.write_eof()
        return response
    except ConnectionResetError:
        if response is None:
            raise
        return response  # the client went away mid-stream
    finally:
        state.limiter.release()


def _framed_wav(chunks: list[ChunkItem], sample_rate: int) -> list[ChunkItem]:
    """tts-openapi.yaml: over SSE, wav "adds per-chunk framing bytes": each chunk is a WAV file of
    its own samples (the plan gives the unit's one header with the first chunk)."""
    header = len(wav_header(sample_rate, 0))
    pcm = b"".join(c.data for c in chunks)[header:]
    framed, start = [], 0
    for n, chunk in enumerate(chunks):
        size = len(chunk.data) - (header if n == 0 else 0)
        samples = pcm[start : start + size]
        start += size
        framed.append(ChunkItem(wav_header(sample_rate, len(samples)) + samples, chunk.at))
    return framed


async def _sse_fault(request: web.Request, response: web.StreamResponse, fault: Fault) -> bool:
    """Apply a stream fault; False when the stream must end here."""
    if fault.kind == "drop":
        abort_connection(request)
        return False
    if fault.kind == "stall":
        await stall(get_state(request), lambda: client_gone(request), fault.stall_ms)
        return not client_gone(request)
    if fault.kind == "malformed":
        await response.write(SSE_MALFORMED)
    return True
