"""Streaming playback: int16 mono PCM through a PortAudio callback stream.

`write` only appends to a bounded queue, so the network never waits on the device (unless
more than `max_queue_seconds` of audio is already waiting, which keeps memory flat). The
PortAudio callback takes audio from the queue; `played_seconds` counts what it has taken.

When the stream starts, PortAudio fills the host's whole buffer (its latency plus one period)
from the callback at once. Started on one 20 ms chunk, the device plays that chunk and then the
silence that filled the rest of the buffer: a click at the start of every sentence. So the stream
starts once the queue holds the host buffer plus one more chunk (the margin until the next one
arrives), which from a server faster than real time costs a few milliseconds of first sound.

After a gap (the device ran dry mid-stream), playing each chunk the moment it arrives would turn a
source slower than real time into a buzz: 20 ms of speech, a few ms of silence, again. The player
holds instead until `Refill` says the queue will last (see there).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from smallest_cli.errors import AudioDeviceError

BYTES_PER_FRAME = 2  # int16 mono
#: How long the device may take nothing while audio waits before we call it stuck.
STALL_SECONDS = 10.0
#: After a gap, playback resumes with enough queued to play this long at the rate audio arrives.
RESUME_HORIZON_SECONDS = 2.0
#: After a gap, nothing arriving for this long means the source paused (live text between two
#: sentences, the end of a segment): what is queued plays at once, as holding it gains nothing.
SOURCE_IDLE_SECONDS = 0.2
#: The longest a hold lasts once the start threshold is queued: a very slow source pauses this
#: long at most, then plays what it has (at 0.2x real time the horizon would take 8 s).
MAX_HOLD_SECONDS = 1.0
#: The arrival rate after a gap is trusted once measured over this long: on a slow link audio
#: comes in bursts, and within one any rate looks faster than real time.
RATE_WINDOW_SECONDS = 0.25


class Refill:
    """When playback may resume after a gap; pure (the caller gives the times).

    A source that had paused before the gap's first audio (the next live sentence, a stall on
    the network) resumes with that audio: its pause, not its speed, made the gap, and holding
    would only delay the sentence. One that kept coming, too slowly, resumes once the queue holds
    the start threshold and, at the rate measured since the gap (over RATE_WINDOW_SECONDS at
    least), enough to play RESUME_HORIZON_SECONDS without running dry: from a source at 0.8x real
    time that is 0.4 s, so it pauses every two seconds instead of between every two chunks, and
    never for more than MAX_HOLD_SECONDS. A source that went quiet resumes with what there is.
    """

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._gap = 0.0  # when the device ran dry
        self._first: float | None = None  # when audio first arrived after the gap
        self._last = 0.0  # when audio last arrived
        self._frames = 0  # frames that arrived after the first arrival

    def gap(self, now: float) -> None:
        """The device ran dry: measure the arrivals from here."""
        self._gap, self._first, self._frames = now, None, 0

    def arrived(self, frames: int, now: float) -> None:
        if self._first is None:
            self._first = now
        else:
            self._frames += frames
        self._last = now

    def ready(self, queued: int, threshold: int, now: float) -> bool:
        """Whether `queued` frames may start playing again (`threshold`: the start's)."""
        if self._first is None or queued == 0:
            return False
        if now - self._last >= SOURCE_IDLE_SECONDS:
            return True  # it went quiet
        if self._first - self._gap >= SOURCE_IDLE_SECONDS:
            return True  # it had paused
        if queued < threshold:
            return False
        elapsed = now - self._first
        if elapsed >= MAX_HOLD_SECONDS:
            return True
        if elapsed < RATE_WINDOW_SECONDS:
            return False
        speed = self._frames / elapsed / self._rate
        return speed >= 1 or queued >= (1 - speed) * RESUME_HORIZON_SECONDS * self._rate


class Player:
    """Plays int16 LE mono PCM at `sample_rate` on `device` (PortAudio index, name part, or default).

    `max_queue_seconds`: write() waits while more than this is queued (flat memory).
    `prebuffer_seconds`: start playing once this much is queued; None (default): the host
    buffer plus the first chunk (`start_frames`); 0: at the first write. After a gap playback
    resumes as `Refill` says, with this as its threshold. `clock`: seconds, for `Refill`.
    """

    def __init__(
        self,
        sample_rate: int,
        device: int | str | None = None,
        *,
        max_queue_seconds: float = 30.0,
        prebuffer_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from smallest_cli.output.devices import PLAYBACK_ADVICE, ensure_portaudio, resolve_device

        sd = ensure_portaudio()
        if isinstance(device, str):
            device = resolve_device(device)
        elif device is None:
            device = resolve_device(None)  # a clear error when there is no output device at all
        self.sample_rate = sample_rate
        self._max_bytes = max(int(max_queue_seconds * sample_rate) * BYTES_PER_FRAME, 4096)
        #: Playback starts once this much is queued (or at drain); None: set at the first write.
        self._prebuffer_bytes: int | None = (
            None if prebuffer_seconds is None else self._cap(int(prebuffer_seconds * sample_rate))
        )
        self._cond = threading.Condition()
        self._chunks: deque[bytes] = deque()
        self._head = 0  # bytes of _chunks[0] already played
        self._queued = 0  # bytes waiting
        self._frames_played = 0
        self._underruns = 0
        #: The last callback ran out of audio (also before the first audio): the next dry one is
        #: the same gap, not another underrun.
        self._starved = True
        #: A callback was filled whole: running dry from here is a gap (also after a hold ended
        #: with less than one block, which is not counted as another underrun).
        self._playing = False
        #: After a gap: the callback plays nothing until `_refill` says the queue will last.
        self._holding = False
        self._refill = Refill(sample_rate)
        self._clock = clock
        self._started = False
        self._draining = False
        self._finished = False  # the stream ended (drained, closed, or died)
        self._closed = False
        self._carry = b""
        self._callback_error: str | None = None
        try:
            self._stream: Any = sd.RawOutputStream(
                samplerate=sample_rate,
                channels=1,
                dtype="int16",
                device=device,
                callback=self._callback,
                finished_callback=self._on_finished,
            )
        except Exception as err:  # noqa: BLE001 - PortAudioError, ValueError: one line for the user
            raise AudioDeviceError(
                f"cannot open the audio output device: {err}; {PLAYBACK_ADVICE}"
            ) from None

    def _cap(self, frames: int) -> int:
        return min(frames * BYTES_PER_FRAME, self._max_bytes)

    # -- the audio thread ---------------------------------------------------------------------

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        import sounddevice as sd

        need = frames * BYTES_PER_FRAME
        parts: list[bytes] = []
        got = 0
        with self._cond:
            if self._holding and (self._draining or self._may_resume()):
                self._holding = False
            while not self._holding and got < need and self._chunks:
                chunk = self._chunks[0]
                take = min(need - got, len(chunk) - self._head)
                parts.append(chunk[self._head : self._head + take])
                got += take
                self._head += take
                if self._head == len(chunk):
                    self._chunks.popleft()
                    self._head = 0
            self._queued -= got
            self._frames_played += got // BYTES_PER_FRAME
            ran_dry = got < need
            if ran_dry and not self._starved and not self._draining:
                # Playing, then starved: once per gap, however many dry or partly filled callbacks
                # it lasts. Before the first full callback (a first chunk smaller than the
                # device's block) playback has not started yet: not a gap.
                self._underruns += 1
            if not ran_dry:
                self._playing = True
            elif self._playing and not self._holding and not self._draining:
                self._holding = True
                self._refill.gap(self._clock())
            self._starved = ran_dry
            stop = ran_dry and self._draining
            self._cond.notify_all()
        if ran_dry:
            parts.append(b"\x00" * (need - got))
        outdata[:] = b"".join(parts) if len(parts) != 1 else parts[0]
        if stop:
            raise sd.CallbackStop  # plays this last buffer, then finishes the stream

    def _may_resume(self) -> bool:
        threshold = (self._prebuffer_bytes or 0) // BYTES_PER_FRAME
        return self._refill.ready(self._queued // BYTES_PER_FRAME, threshold, self._clock())

    def _on_finished(self) -> None:
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    # -- the caller's thread -------------------------------------------------------------------

    @property
    def underruns(self) -> int:
        """Gaps in playback: times the device went from playing audio to running out of it while
        more was still expected (before drain()). A gap counts once however long it lasts."""
        with self._cond:
            return self._underruns

    @property
    def played_seconds(self) -> float:
        """Seconds of audio handed to the device so far (the playback clock)."""
        with self._cond:
            return self._frames_played / self.sample_rate

    @property
    def queued_seconds(self) -> float:
        """Seconds of audio written but not yet handed to the device."""
        with self._cond:
            return self._queued / BYTES_PER_FRAME / self.sample_rate

    def _wait(self, until: Any, what: str) -> None:
        """Wait on the condition (held) until `until()`, failing if the device stops taking audio."""
        last = self._frames_played
        deadline = time.monotonic() + STALL_SECONDS
        while not until():
            if self._finished and not self._closed and not self._draining:
                raise AudioDeviceError("the audio output stream stopped unexpectedly")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if self._frames_played == last:
                    raise AudioDeviceError(f"the audio device stopped playing ({what})")
                last = self._frames_played
                deadline = time.monotonic() + STALL_SECONDS
                continue
            self._cond.wait(remaining)

    def _start(self) -> None:
        try:
            self._stream.start()
        except Exception as err:  # noqa: BLE001
            raise AudioDeviceError(f"cannot start audio playback: {err}") from None
        self._started = True

    def write(self, pcm: bytes) -> None:
        """Queue int16 LE mono PCM; returns at once unless the queue is full (then waits for room)."""
        if self._carry:
            pcm = self._carry + pcm
            self._carry = b""
        if len(pcm) % 2:
            self._carry, pcm = pcm[-1:], pcm[:-1]
        if not pcm or self._closed:
            return
        with self._cond:
            if self._draining:
                raise RuntimeError("Player.write() after drain()")
            self._wait(lambda: self._closed or self._queued < self._max_bytes, "queue full")
            if self._closed:
                return
            self._chunks.append(bytes(pcm))
            self._queued += len(pcm)
            if self._holding:
                self._refill.arrived(len(pcm) // BYTES_PER_FRAME, self._clock())
            if self._prebuffer_bytes is None:
                latency = float(self._stream.latency)
                first = len(pcm) // BYTES_PER_FRAME
                self._prebuffer_bytes = self._cap(start_frames(latency, self.sample_rate, first))
            start = not self._started and self._queued >= self._prebuffer_bytes
        if start:
            self._start()

    def drain(self) -> None:
        """Wait until everything written has been played, then stop the stream."""
        if self._closed:
            return
        with self._cond:
            self._draining = True
            self._cond.notify_all()
        if not self._started and self._queued:
            self._start()
        with self._cond:
            if self._started:
                self._wait(lambda: self._finished or self._closed, "draining")
        self.close()

    def close(self) -> None:
        """Stop at once and release the device (also on Ctrl-C). Safe to call twice."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._chunks.clear()
            self._queued = 0
            self._head = 0
            self._cond.notify_all()
        try:
            if self._started and not self._finished:
                self._stream.abort()
        except Exception:  # noqa: BLE001 - closing must not raise
            pass
        try:
            self._stream.close()
        except Exception:  # noqa: BLE001
            pass

    def __enter__(self) -> Player:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_frames(latency: float, sample_rate: int, chunk_frames: int) -> int:
    """Frames to queue before the stream starts: the host buffer, which PortAudio fills at once
    on start (`latency` plus one period; with a variable block size the period is unknown, and
    ALSA and PulseAudio use a quarter of the latency), plus one chunk of margin for the next
    arrival."""
    host_buffer = latency * 1.25 * sample_rate
    return int(host_buffer) + chunk_frames
