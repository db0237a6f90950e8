"""Incremental decoders from the server's output formats to 16-bit little-endian mono PCM.

Every decoder has `feed(data) -> bytes` (PCM decodable so far) and `finish() -> bytes` (the rest).
Audio arrives in arbitrary byte pieces, so each decoder carries what it cannot decode yet and
keeps nothing else: memory stays flat however long the stream is.

numpy and miniaudio are imported inside the functions that need them (keeps `--help` light and
lets raw pcm/wav work without them).
"""

from __future__ import annotations

import struct
import threading
from collections import deque
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from smallest_cli.errors import ProtocolError
from smallest_cli.protocol.contract import check_format

if TYPE_CHECKING:
    import numpy as np


class Decoder(Protocol):
    """Turns encoded audio pieces into int16 LE mono PCM, incrementally."""

    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


# --------------------------------------------------------------------------------------------
# G.711


def _ulaw_sample(code: int) -> int:
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def _alaw_sample(code: int) -> int:
    a = code ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    if seg == 0:
        t += 8
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


@lru_cache(maxsize=2)
def _g711_table(law: str) -> np.ndarray:
    import numpy as np

    fn = _ulaw_sample if law == "ulaw" else _alaw_sample
    return np.array([fn(i) for i in range(256)], dtype="<i2")


def _g711_decode(data: bytes, law: str) -> bytes:
    if not data:
        return b""
    import numpy as np

    return _g711_table(law)[np.frombuffer(data, dtype=np.uint8)].tobytes()


def ulaw_decode(data: bytes) -> bytes:
    """G.711 mu-law bytes → int16 LE PCM (two bytes per input byte)."""
    return _g711_decode(data, "ulaw")


def alaw_decode(data: bytes) -> bytes:
    """G.711 A-law bytes → int16 LE PCM (two bytes per input byte)."""
    return _g711_decode(data, "alaw")


class UlawDecoder:
    def feed(self, data: bytes) -> bytes:
        return ulaw_decode(data)

    def finish(self) -> bytes:
        return b""


class AlawDecoder:
    def feed(self, data: bytes) -> bytes:
        return alaw_decode(data)

    def finish(self) -> bytes:
        return b""


# --------------------------------------------------------------------------------------------
# PCM and WAV


class PcmDecoder:
    """Passes PCM through whole samples only, carrying an odd trailing byte to the next piece."""

    def __init__(self) -> None:
        self._carry = b""

    def feed(self, data: bytes) -> bytes:
        if self._carry:
            data = self._carry + data
            self._carry = b""
        if len(data) % 2:
            self._carry = data[-1:]
            data = data[:-1]
        return data

    def finish(self) -> bytes:
        # A dangling half sample is not audio.
        self._carry = b""
        return b""


def wav_data_offset(head: bytes) -> int | None:
    """Where the sample data starts in a RIFF/WAVE stream beginning with `head`.

    Returns None when more bytes are needed to tell. Returns 0 when `head` is not a RIFF
    stream at all (raw PCM).
    """
    if len(head) < 12:
        return 0 if head and not b"RIFF".startswith(head[:4]) else None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0
    pos = 12
    while True:
        if len(head) < pos + 8:
            return None
        chunk_id, size = head[pos : pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if chunk_id == b"data":
            return pos + 8
        pos += 8 + size + (size & 1)
        if pos > 1 << 20:  # no data chunk in the first MiB: treat the rest as samples
            return pos


class WavDecoder:
    """Strips the RIFF header at the start of the stream (44 bytes for the canonical one)."""

    def __init__(self) -> None:
        self._head: bytes | None = b""  # None once the header is behind us
        self._skip = 0
        self._pcm = PcmDecoder()

    def feed(self, data: bytes) -> bytes:
        if self._head is not None:
            self._head += data
            offset = wav_data_offset(self._head)
            if offset is None:
                return b""
            data, self._head = self._head, None
            self._skip = offset
        if self._skip:
            cut = min(self._skip, len(data))
            data = data[cut:]
            self._skip -= cut
        return self._pcm.feed(data)

    def finish(self) -> bytes:
        # Bytes still held here are an incomplete header, not audio.
        self._head = None
        return self._pcm.finish()


# --------------------------------------------------------------------------------------------
# MP3


_MP3_BITRATES_KBPS = {
    # (MPEG-1?, layer) → bitrate per index 0..14 (0 = free format, unsupported here)
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_header(header: bytes) -> tuple[bool, int, int, int] | None:
    """(MPEG-1?, layer, bitrate in bit/s, sample rate) of a 4-byte frame header, None if invalid."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = (header[1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved
    layer = 4 - ((header[1] >> 1) & 3)  # 4 means reserved
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 3
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _MP3_BITRATES_KBPS[(mpeg1, layer)][bitrate_index] * 1000
    return mpeg1, layer, bitrate, _MP3_RATES[version][rate_index]


def mp3_frame_length(header: bytes) -> int | None:
    """Byte length of the MPEG audio frame starting with the 4-byte `header`, None if invalid."""
    fields = _mp3_header(header)
    if fields is None:
        return None
    mpeg1, layer, bitrate, rate = fields
    padding = (header[2] >> 1) & 1
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    if layer == 3 and not mpeg1:
        return 72 * bitrate // rate + padding
    return 144 * bitrate // rate + padding


def mp3_frame_seconds(header: bytes) -> float:
    """Seconds of audio in the MPEG audio frame starting with `header` (0.0 if invalid):
    samples per frame (384 for layer I, 576 for layer III of MPEG-2/2.5, else 1152) / rate."""
    fields = _mp3_header(header)
    if fields is None:
        return 0.0
    mpeg1, layer, _, rate = fields
    samples = 384 if layer == 1 else 576 if (layer == 3 and not mpeg1) else 1152
    return samples / rate


class Mp3FrameSplitter:
    """Cuts an MP3 byte stream into whole frames; skips ID3v2 tags and junk between frames.

    The decoder must only ever see whole frames: given a frame cut short it drops it and
    resets its state.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        self._buf += data
        buf = self._buf
        frames: list[bytes] = []
        pos = 0
        while len(buf) - pos >= 10:
            if buf[pos : pos + 3] == b"ID3":
                size = 10 + (
                    (buf[pos + 6] & 0x7F) << 21
                    | (buf[pos + 7] & 0x7F) << 14
                    | (buf[pos + 8] & 0x7F) << 7
                    | (buf[pos + 9] & 0x7F)
                )
                if buf[pos + 5] & 0x10:  # footer present
                    size += 10
                if len(buf) - pos < size:
                    break
                pos += size
                continue
            length = mp3_frame_length(bytes(buf[pos : pos + 4]))
            if length is None:
                pos += 1  # resynchronize
                continue
            if len(buf) - pos < length:
                break
            frames.append(bytes(buf[pos : pos + length]))
            pos += length
        del buf[:pos]
        return frames

    def pending(self) -> int:
        return len(self._buf)


class _FrameQueue:
    """The byte source miniaudio's decoder reads from (in the decoder thread).

    dr_mp3 reads before it decodes whenever it holds less than 16 KiB, and loses a frame that
    is cut short. So each read hands out exactly one whole frame (only a header probe of a few
    bytes gets a prefix, and a rewind puts it back): when the decoder blocks on an empty
    queue it has decoded everything handed out. It then marks itself `starved`, which tells
    the feeding thread that `feed` may return.
    """

    def __init__(self, cond: threading.Condition) -> None:
        self.cond = cond
        self.frames: deque[bytes] = deque()
        self.eof = False
        self.starved = False
        self.position = 0  # bytes handed out so far
        self._last = b""  # the last piece handed out, for a rewind over a header probe
        self._split = False  # the last read handed out a prefix of frames[0]

    def put(self, frames: list[bytes]) -> None:
        self.frames.extend(frames)

    def read(self, num_bytes: int) -> bytes:
        with self.cond:
            while not self.frames and not self.eof:
                self.starved = True
                self.cond.notify_all()
                self.cond.wait()
            self.starved = False
            if not self.frames:
                return b""
            frame = self.frames[0]
            if len(frame) <= num_bytes:
                self.frames.popleft()
                self._split = False
            else:
                frame, self.frames[0] = frame[:num_bytes], frame[num_bytes:]
                self._split = True
            self.position += len(frame)
            self._last = frame
            return frame

    def seek_to(self, target: int) -> bool:
        """Rewind to absolute offset `target` within the last piece handed out."""
        with self.cond:
            start = self.position - len(self._last)
            if not start <= target <= self.position:
                return False
            back = self._last[target - start :]
            if back:
                if self._split and self.frames:
                    self.frames[0] = back + self.frames[0]
                else:
                    self.frames.appendleft(back)
                self._split = False
                self.position = target
                self._last = self._last[: target - start]
            return True


class Mp3StreamDecoder:
    """MP3 bytes in arbitrary pieces → int16 LE mono PCM, decoded incrementally.

    miniaudio's decoder runs in a thread and reads from a queue that `feed` fills; `feed`
    returns once the decoder waits for more input (with whatever it could decode so far),
    `finish` signals the end and returns the rest. Decoder state (bit reservoir) spans piece
    boundaries, so the output equals decoding the whole file at once.

    `sample_rate`: the rate to deliver (resampled if the stream differs); None keeps the
    stream's own rate.
    """

    #: PCM frames per decoder read: one MPEG-2 frame, small for low latency.
    FRAMES_PER_READ = 576

    def __init__(self, sample_rate: int | None = None) -> None:
        self._rate = sample_rate or 0
        self._cond = threading.Condition()
        self._source = _FrameQueue(self._cond)
        self._splitter = Mp3FrameSplitter()
        self._out = bytearray()
        self._done = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._fed = 0

    def _start(self) -> None:
        import miniaudio  # noqa: F401  (fail early, in the caller's thread, if it is missing)

        self._thread = threading.Thread(target=self._run, name="mp3-decoder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._decode_loop()
        except Exception as err:  # noqa: BLE001 - reported to the feeding thread
            with self._cond:
                self._error = err
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _decode_loop(self) -> None:
        # miniaudio's own stream_any() drops the last partial block at the end of a stream,
        # so this drives the decoder directly through the same read callback.
        import miniaudio
        from miniaudio import ffi, lib

        source = self._source

        class _Src(miniaudio.StreamableSource):
            def read(self, num_bytes: int) -> bytes:
                return source.read(num_bytes)

            def seek(self, offset: int, origin: miniaudio.SeekOrigin) -> bool:
                if origin == miniaudio.SeekOrigin.START:
                    return source.seek_to(offset)
                if origin == miniaudio.SeekOrigin.CURRENT:
                    return source.seek_to(source.position + offset)
                return False

        src = _Src()
        handle = ffi.new_handle(src)
        src.ffi_handle = handle
        config = lib.ma_decoder_config_init(miniaudio.SampleFormat.SIGNED16.value, 1, self._rate)
        config.encodingFormat = miniaudio.FileFormat.MP3.value
        decoder = ffi.new("ma_decoder *")
        result = lib.ma_decoder_init(
            lib._internal_decoder_read_callback,
            lib._internal_decoder_seek_callback,
            handle,
            ffi.addressof(config),
            decoder,
        )
        if result != lib.MA_SUCCESS:
            if source.eof and not source.frames and not self._out:
                return  # nothing (or only a fragment) was fed: no audio, not an error
            raise miniaudio.DecodeError("not an MP3 stream", result)
        try:
            n = self.FRAMES_PER_READ
            buf = ffi.new("int16_t[]", n)
            frames_read = ffi.new("ma_uint64 *")
            while True:
                result = lib.ma_decoder_read_pcm_frames(decoder, buf, n, frames_read)
                got = int(frames_read[0])
                if src.error_in_readcallback is not None:
                    raise src.error_in_readcallback
                if got:
                    with self._cond:
                        self._out += ffi.buffer(buf, got * 2)
                if result == lib.MA_AT_END or (result == lib.MA_SUCCESS and got == 0):
                    return
                if result != lib.MA_SUCCESS:
                    raise miniaudio.DecodeError("MP3 decoding failed", result)
        finally:
            lib.ma_decoder_uninit(decoder)

    def _take(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def _raise_if_failed(self) -> None:
        err = self._error
        if err is not None:
            self._error = None
            raise ProtocolError(f"could not decode the MP3 audio: {err}") from err

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        self._fed += len(data)
        frames = self._splitter.push(data)
        if not frames:
            with self._cond:
                return self._take()
        if self._thread is None:
            self._start()
        with self._cond:
            if self._done:
                self._raise_if_failed()
                return self._take()
            self._source.put(frames)
            self._source.starved = False
            self._cond.notify_all()
            while not self._done and not self._source.starved:
                self._cond.wait()
            self._raise_if_failed()
            return self._take()

    def finish(self) -> bytes:
        if self._thread is None:
            if self._fed > 1024:
                raise ProtocolError(f"could not decode the MP3 audio: no MPEG frame in {self._fed} bytes")
            return b""
        with self._cond:
            self._source.eof = True
            self._cond.notify_all()
            while not self._done:
                self._cond.wait()
            self._raise_if_failed()
            return self._take()

    def close(self) -> None:
        """Abandon the stream (Ctrl-C, failure): stop the decoder thread, drop its output."""
        if self._thread is None:
            return
        with self._cond:
            self._source.eof = True
            self._source.frames.clear()
            self._cond.notify_all()
        self._thread.join(timeout=5)
        with self._cond:
            self._out.clear()


def make_decoder(fmt: str, sample_rate: int) -> Decoder:
    """A decoder from the server's `output_format` `fmt` to int16 LE mono PCM at `sample_rate`."""
    fmt = check_format(fmt)
    if fmt == "pcm":
        return PcmDecoder()
    if fmt == "wav":
        return WavDecoder()
    if fmt == "ulaw":
        return UlawDecoder()
    if fmt == "alaw":
        return AlawDecoder()
    if fmt == "mp3":
        return Mp3StreamDecoder(sample_rate)
    raise AssertionError(fmt)  # check_format knows no other


def close_decoder(decoder: Any) -> None:
    """Release a decoder's resources if it has any (the MP3 decoder's thread)."""
    close = getattr(decoder, "close", None)
    if callable(close):
        close()
