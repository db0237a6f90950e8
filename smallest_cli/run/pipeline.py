"""text → segments → transport → events → sinks and display, with per-segment retry and resume.

Each segment is one request. Audio bytes go to every sink as they arrive (nothing is accumulated).
A retryable failure (rate limit, server error or truncation, network) retries the segment with
exponential backoff. Nothing says two renders of one text are the same, so a retry is a new take:
sinks that can (a file) roll back to the segment's start and keep the retry's audio whole; the
others (stdout, the speakers) cannot take bytes back and resume at the same time offset, skipping
as many bytes of the retry as they already had.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from smallest_cli.errors import ProtocolError, SmallestError, UsageError, eprint, stopped
from smallest_cli.events import AudioChunk, Done, Event, RunStats, WordTimestamp
from smallest_cli.protocol import contract
from smallest_cli.protocol.request import SynthesisOptions, build_request
from smallest_cli.transports.base import Transport

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
#: Longest piece of input handed to the segmenter at once: it segments all it is given before
#: returning, so a long line (a 50,000-character file on one line) would delay the first request.
SEGMENTER_FEED_CHARS = 4096


class Sink(Protocol):
    """Takes PCM (see output.sinks.AudioSink)."""

    def write(self, data: bytes) -> None: ...

    def begin_segment(self, retryable: bool) -> None: ...

    def rollback(self) -> bool: ...

    def end_segment(self) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> str | None: ...


class WordSink(Protocol):
    """Takes the word timestamps on the run's timeline (e.g. a caption file), each once its audio
    has all been delivered: what a failure keeps of them never runs past the audio kept."""

    def begin_segment(self, text: str | None) -> None:
        """A request starts; the words that follow are those of `text` (None for live input)."""

    def add(self, word: WordTimestamp) -> None: ...

    def end_segment(self) -> None:
        """The request's words are all in."""

    def close(self) -> None: ...

    def abort(self) -> str | None: ...


class WordPlaces(Protocol):
    """Where each word is in the source text (`source.places.SpokenPlaces`): asked once per word,
    in order, as it arrives; told when a request's words are all in."""

    def place(self, word: str) -> tuple[int, int | None] | None:
        """The word's line and column (None: not known), or None when it is not found."""

    def end_segment(self, text: str | None) -> None: ...


class Prefetch(Protocol):
    """Runs requests ahead (scheduler.Scheduler): each body with its events and its `again`, in
    order; `on_limit(n)` hears that the account allows fewer at once, and the run goes on with n."""

    def ahead(
        self, bodies: Iterable[dict[str, Any]], on_limit: Callable[[int], None] | None = None
    ) -> Iterator[tuple[dict[str, Any], Iterator[Event], Callable[[], Iterator[Event]]]]: ...


@dataclass(frozen=True)
class Prepared:
    """A request whose events may already be on their way: prefetched, a live text stream, or read
    from the audio cache. `again` sends it once more for a retry, or returns None when it no longer
    can; without it the transport sends `body` again. `body` is None for live input (consumed as it
    is sent): its `again` replays what was sent, until its first audio."""

    body: dict[str, Any] | None
    events: Iterator[Event] | None = None
    again: Callable[[], Iterator[Event] | None] | None = None
    #: The events' words are on the run's timeline already, as the cache stored them.
    replayed: bool = False


class Observer(Protocol):
    """What the pipeline reports while it runs (the display implements it)."""

    def on_audio(self, chunks: int, audio_bytes: int, audio_seconds: float) -> None: ...

    def on_segment(self, segments: int, chars: int) -> None: ...

    def on_word(self, word: WordTimestamp) -> None: ...

    def on_retry(self, segment: int, attempt: int, delay: float, error: SmallestError) -> None: ...

    def on_limit(self, allowed: int) -> None:
        """The account allows fewer requests at once than asked: the run goes on with `allowed`."""


class NullObserver:
    def on_audio(self, chunks: int, audio_bytes: int, audio_seconds: float) -> None:
        return None

    def on_segment(self, segments: int, chars: int) -> None:
        return None

    def on_word(self, word: WordTimestamp) -> None:
        return None

    def on_retry(self, segment: int, attempt: int, delay: float, error: SmallestError) -> None:
        return None

    def on_limit(self, allowed: int) -> None:
        return None


# -- segments ---------------------------------------------------------------------------------------


def segments_for_text(text: str) -> list[str]:
    """Text up to the per-request limit is one request; longer text is split by the segmenter."""
    stripped = text.strip()
    if not stripped:
        return []
    if len(stripped) <= contract.MAX_TEXT_CHARS:
        return [stripped]
    from smallest_cli.protocol.segment import segment_text

    return [s for s in segment_text(stripped) if s.strip()]


def segments_from_chunks(chunks: Iterable[str]) -> Iterator[str]:
    """Segments of streamed text (stdin, a file) without reading it all: input that ends within the
    per-request limit is one request, like `segments_for_text`; longer input is segmented as it comes.
    An empty chunk says the input paused (a pipe with nothing more to read yet): the sentences
    finished by then are sent without waiting for more (`protocol.segment.iter_segments`)."""
    it = iter(chunks)
    head: list[str] = []
    size = 0
    for chunk in it:
        head.append(chunk)
        size += len(chunk)
        if size > contract.MAX_TEXT_CHARS + 1 or (not chunk and any(piece.strip() for piece in head)):
            break
    else:
        yield from segments_for_text("".join(head))
        return
    from smallest_cli.protocol.segment import iter_segments

    for seg in iter_segments(_pieces(itertools.chain(head, it), SEGMENTER_FEED_CHARS)):
        if seg.strip():
            yield seg


def _pieces(chunks: Iterable[str], size: int) -> Iterator[str]:
    """`chunks` cut into pieces of at most `size` characters (the segments do not depend on how
    the text is cut: the segmenter only decides once it holds a whole window); an empty chunk, a
    pause, is kept."""
    for chunk in chunks:
        if len(chunk) <= size:
            yield chunk
        else:
            for start in range(0, len(chunk), size):
                yield chunk[start : start + size]


def first_and_rest(segments: Iterable[str]) -> Iterator[str]:
    """`segments`, checked to be non-empty before anything else happens (empty text → UsageError)."""
    it = iter(segments)
    first = next(it, None)
    if first is None:
        raise UsageError("no text to speak: the input is empty")
    return itertools.chain([first], it)


# -- audio time -------------------------------------------------------------------------------------


def pcm_seconds(audio_bytes: int, sample_rate: int) -> float:
    """Seconds of 16-bit mono PCM (what every transport carries) in `audio_bytes`."""
    return audio_bytes / (2 * sample_rate)


# -- the run ----------------------------------------------------------------------------------------


@dataclass
class Pipeline:
    """Speaks segments into the sinks (see `run`). (Without a docstring `dataclass` would build
    one from `inspect.signature` at import, ~0.1 ms before every first audio byte.)"""

    transport: Transport
    options: SynthesisOptions
    sinks: Sequence[Sink]
    observer: Observer = dataclasses.field(default_factory=NullObserver)
    retries: int = 3
    #: The longest wait before a retry, whatever the server's Retry-After asks (--timeout).
    max_wait: float = BACKOFF_MAX_S
    output: str | None = None
    #: The run's start on the `clock` (e.g. when the command started).
    started: float | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    #: Caption files and the like: every word, on the run's timeline.
    word_sinks: Sequence[WordSink] = ()
    #: Runs requests ahead of the one being delivered (`--concurrency` > 1).
    prefetch: Prefetch | None = None
    #: The format written to the file or stdout (None: only playing, as PCM).
    file_format: str | None = None
    #: Gives each word its place in the source text (--json and JSON captions list it).
    places: WordPlaces | None = None

    def run(self, segments: Iterable[str | Prepared]) -> RunStats:
        """Speak every segment, in order, into the sinks; close them. On failure or Ctrl-C the
        sinks are aborted and their descriptions are added to the raised error's message."""
        start = self.clock() if self.started is None else self.started
        stats = RunStats(
            transport=self.transport.name,
            voice_id=self.options.voice_id,
            model=self.options.model,
            sample_rate=self.options.sample_rate,
            output_format=self.file_format or "pcm",
            output=self.output,
        )
        try:
            words = chars = 0
            for index, item in enumerate(self._prepared(segments)):
                words += self._segment(index, item, words, stats, start)
                stats.segments += 1
                chars += len(item.body["text"]) if item.body is not None else 0
                self.observer.on_segment(stats.segments, chars)
            synth_end = self.clock()
            # A sink closed whole before another one failed still says where it is (abort).
            for sink in self.sinks:
                sink.close()
            for word_sink in self.word_sinks:
                word_sink.close()
        except SmallestError as err:
            raise self._aborted(err) from None
        except KeyboardInterrupt as stop_signal:
            raise self._aborted(stopped(stop_signal)) from None
        except Exception as exc:
            # Any other failure still keeps the audio received. Writing to stdout is the one our
            # code lets through (the guard reports it); another is a fault of ours, traceback and all.
            kept = self._aborted(SmallestError("unexpected failure"))
            if not isinstance(exc, OSError):
                eprint(f"smallest: {kept}")
            raise
        stats.total_ms = (self.clock() - start) * 1000
        synth_s = synth_end - start
        stats.realtime_factor = stats.audio_seconds / synth_s if synth_s > 0 and stats.audio_seconds else None
        return stats

    def _aborted(self, err: SmallestError) -> SmallestError:
        notes = []
        outputs = [(sink, "the audio received so far is in") for sink in self.sinks]
        outputs += [(sink, "the captions so far are in") for sink in self.word_sinks]
        for sink, where in outputs:
            try:
                kept = sink.abort()
                note = f"{where} {kept}" if kept else None
            except Exception as exc:  # noqa: BLE001 - report, keep aborting the others
                note = f"could not clean up an output: {exc}"
            if note:
                notes.append(note)
        if notes:
            err.message = f"{err}; {'; '.join(notes)}"
        return err

    def _prepared(self, segments: Iterable[str | Prepared]) -> Iterator[Prepared]:
        """Each segment as a request; with `prefetch`, text segments run ahead of delivery."""
        if self.prefetch is None:
            for item in segments:
                yield item if isinstance(item, Prepared) else Prepared(build_request(item, self.options))
            return
        bodies = (build_request(text, self.options) for text in segments if isinstance(text, str))
        for body, events, again in self.prefetch.ahead(bodies, self.observer.on_limit):
            yield Prepared(body, events, again)

    def _segment(self, index: int, item: Prepared, words_before: int, stats: RunStats, start: float) -> int:
        """One segment, retried as needed, after `stats.audio_seconds` of audio and `words_before`
        words on the run's timeline. Returns its words."""
        for sink in self.sinks:
            sink.begin_segment(retryable=item.body is not None)
        for word_sink in self.word_sinks:
            word_sink.begin_segment(None if item.body is None else item.body.get("text"))
        progress = _SegmentProgress(
            stats.audio_seconds, words_before, whole=[True] * len(self.sinks), replayed=item.replayed
        )
        events = item.events
        if events is None:
            assert item.body is not None
            events = self.transport.stream(item.body)
        attempt = 0
        while True:
            try:
                self._attempt(events, progress, stats, start)
                if not progress.taken:
                    # A text always has some sound: an empty answer is a fault, not silence.
                    raise ProtocolError("the server answered with no audio", request_id=stats.request_id)
                break
            except SmallestError as err:
                again = self._again(item) if err.retryable and attempt < self.retries else None
                if again is None:
                    raise
                events = again
                delay = backoff_delay(attempt, err.retry_after, self.max_wait)
                attempt += 1
                stats.retries += 1
                self.observer.on_retry(index, attempt, delay, err)
                progress.half = b""  # the next take's samples start afresh
                if progress.taken:  # a take that delivered nothing leaves nothing to take back
                    progress.retry([sink.rollback() for sink in self.sinks])
                self.sleep(delay)
        for sink in self.sinks:
            sink.end_segment()
        self._release_words(progress, math.inf)
        for word_sink in self.word_sinks:
            word_sink.end_segment()
        if self.places is not None:
            self.places.end_segment(None if item.body is None else item.body.get("text"))
        stats.audio_bytes += progress.taken
        stats.audio_seconds += pcm_seconds(progress.taken, self.options.sample_rate)
        return progress.words

    def _again(self, item: Prepared) -> Iterator[Event] | None:
        """The events of the request sent once more (not yet running: the backoff comes first),
        or None when it cannot be."""
        if item.again is not None:
            return item.again()
        return None if item.body is None else self.transport.stream(item.body)

    def _attempt(
        self, events: Iterator[Event], progress: _SegmentProgress, stats: RunStats, start: float
    ) -> None:
        """One request for a segment, its `events`. A retry is a new take: the words already shown
        are skipped, and so is the audio a sink that could not roll back already has."""
        skip_words = progress.words
        for event in events:
            if isinstance(event, AudioChunk):
                if event.data:
                    self._deliver(event, progress, stats, start)
            elif isinstance(event, WordTimestamp):
                if skip_words:
                    skip_words -= 1
                    continue
                progress.words += 1
                # Words from the cache are on the run's timeline already (`Prepared.replayed`).
                shift = progress.offset
                moved = {} if progress.replayed else {
                    "id": event.id + progress.first_word, "start": event.start + shift,
                    "end": event.end + shift,
                }
                line, column = self._place(event.word)
                shifted = dataclasses.replace(event, line=line, column=column, **moved)
                self.observer.on_word(shifted)
                if self.word_sinks:
                    progress.words_ahead.append(shifted)
            elif isinstance(event, Done):
                # The transport ends the stream right after it.
                stats.request_id, stats.session_id = event.request_id, event.session_id
                stats.external_request_id = event.external_request_id
                stats.external_session_id = event.external_session_id

    def _place(self, word: str) -> tuple[int | None, int | None]:
        place = self.places.place(word) if self.places is not None else None
        return (None, None) if place is None else place

    def _deliver(self, chunk: AudioChunk, progress: _SegmentProgress, stats: RunStats, start: float) -> None:
        # Once per chunk, tens of thousands of times an hour of audio: kept to the fewest steps.
        data = chunk.data
        if progress.half or len(data) & 1:
            data = _whole_samples(data, progress)
            if not data:
                return
        taken = progress.taken
        try:
            if progress.streamed <= taken:  # every sink gets it all (no take to catch up with)
                for sink in self.sinks:
                    sink.write(data)
            else:
                self._catch_up(data, progress)
        except SmallestError as err:
            # A sink's failure (a full disk, say) is not the request's: a retry would give the
            # sinks before it these bytes a second time.
            err.retryable = False
            raise
        if stats.first_chunk_ms is None:
            stats.first_chunk_ms = (self.clock() - start) * 1000
        taken += len(data)
        progress.taken = taken
        if progress.streamed < taken:
            progress.streamed = taken
        if progress.words_ahead:
            delivered = progress.offset + pcm_seconds(taken, self.options.sample_rate)
            self._release_words(progress, delivered)
        stats.chunks += chunk.pieces
        running = stats.audio_bytes + taken
        self.observer.on_audio(stats.chunks, running, pcm_seconds(running, self.options.sample_rate))

    def _catch_up(self, data: bytes, progress: _SegmentProgress) -> None:
        """A retry's take while it is behind the earlier one: a sink that kept the earlier take
        (it could not roll back) gets only what it does not have yet."""
        had = progress.streamed - progress.taken
        for sink, whole in zip(self.sinks, progress.whole, strict=True):
            if whole:
                sink.write(data)
            elif had < len(data):
                sink.write(data[had:])

    def _release_words(self, progress: _SegmentProgress, until: float) -> None:
        """Give the word sinks the words whose audio, up to `until` on the run's timeline, is in."""
        ahead = progress.words_ahead
        while ahead and ahead[0].end <= until:
            word = ahead.popleft()
            for word_sink in self.word_sinks:
                word_sink.add(word)


def _whole_samples(data: bytes, progress: _SegmentProgress) -> bytes:
    """`data` after the half sample the take's last chunk ended with, less one it ends with: the
    sinks get whole 16-bit samples. A half sample left when the segment ends is dropped: written,
    it would shift every later segment by a byte, and they would play as noise."""
    data = progress.half + data
    cut = len(data) & ~1
    progress.half = data[cut:]
    return data[:cut]


@dataclass
class _SegmentProgress:
    """What one segment has delivered so far, across its attempts (takes)."""

    offset: float
    #: The run-wide id of this segment's first word (the service counts words per request).
    first_word: int
    #: Per sink: whether it gets this take whole (it has none of an earlier one: it rolled back).
    whole: list[bool]
    #: Bytes of this take so far.
    taken: int = 0
    #: The most bytes of this segment a sink that cannot roll back has been given.
    streamed: int = 0
    words: int = 0
    #: Words received ahead of their audio: not all of it is in yet (only with word sinks).
    words_ahead: deque[WordTimestamp] = dataclasses.field(default_factory=deque)
    #: The words are on the run's timeline already (`Prepared.replayed`).
    replayed: bool = False
    #: The first byte of a sample whose second byte is still to come.
    half: bytes = b""

    def retry(self, rolled_back: list[bool]) -> None:
        self.whole = rolled_back
        self.taken = 0


def backoff_delay(attempt: int, retry_after: float | None = None, max_wait: float = BACKOFF_MAX_S) -> float:
    """Seconds before retry number `attempt + 1`: the server's Retry-After when given, else 0.5 s
    doubling per attempt; never more than `max_wait` (a Retry-After of 600 must not hold a shell
    or a CI job for ten minutes: the retry then tells whether the limit has passed)."""
    wait = max(0.0, retry_after) if retry_after is not None else BACKOFF_START_S * (2**attempt)
    return min(wait, BACKOFF_MAX_S, max_wait)
