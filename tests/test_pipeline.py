"""The pipeline's own rules, with a scripted in-process transport: ordering, retry with resume,
word-time offsets, backoff, and sink abort on failure. (End-to-end runs are in test_cli_*.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from smallest_cli.errors import AuthError, Interrupted, NetworkError, ProtocolError, RateLimitError
from smallest_cli.events import AudioChunk, Done, Event, WordTimestamp
from smallest_cli.protocol.request import SynthesisOptions
from smallest_cli.run.pipeline import (
    Pipeline,
    backoff_delay,
    first_and_rest,
    segments_for_text,
    segments_from_chunks,
)

RATE = 8000


def audio_for(text: str, take: int = 0) -> bytes:
    """Deterministic 'speech': 2 bytes per character per 100 samples, content derived from the text
    (and from the take: a neural service renders the same text differently each time)."""
    pattern = text.encode() + bytes([take])
    return (pattern * (len(text) * 200 // len(pattern) + 1))[: len(text) * 200]


class ScriptedTransport:
    """Answers each request with `audio_for(text)` in 100-byte chunks, plus one word per 400 bytes;
    `failures` is a list of (exception, after_chunks) consumed by successive requests."""

    name = "fake"

    def __init__(self, failures: list[tuple[Exception, int]] | None = None, varied: bool = False) -> None:
        self.failures = list(failures or [])
        self.bodies: list[dict[str, Any]] = []
        #: Every request renders a different take of its text.
        self.varied = varied

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        self.bodies.append(body)
        fail = self.failures.pop(0) if self.failures else None
        data = audio_for(body["text"], len(self.bodies) if self.varied else 0)
        for i in range(0, len(data), 100):
            if fail is not None and i // 100 == fail[1]:
                raise fail[0]
            if i % 400 == 0:
                t = i / (2 * RATE)
                yield WordTimestamp(id=i // 400, word=f"w{i // 400}", start=t, end=t + 0.01)
            yield AudioChunk(data[i : i + 100])
        yield Done(request_id="req")

    def close(self) -> None:
        pass


class MemorySink:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.data += data

    def begin_segment(self, retryable: bool) -> None:
        self.mark = len(self.data)

    def rollback(self) -> bool:
        return False  # like stdout and the speakers

    def end_segment(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> str | None:
        self.aborted = True
        return "partial output removed"


class RewindingSink(MemorySink):
    """Rolls back to the segment's start, like a file."""

    def rollback(self) -> bool:
        del self.data[self.mark :]
        return True


class Recorder:
    def __init__(self) -> None:
        self.words: list[WordTimestamp] = []
        self.retries: list[tuple[int, int, float]] = []
        self.segments: list[tuple[int, int]] = []

    def on_audio(self, chunks: int, audio_bytes: int, audio_seconds: float) -> None:
        pass

    def on_segment(self, segments: int, chars: int) -> None:
        self.segments.append((segments, chars))

    def on_word(self, word: WordTimestamp) -> None:
        self.words.append(word)

    def on_retry(self, segment: int, attempt: int, delay: float, error: Exception) -> None:
        self.retries.append((segment, attempt, delay))


def make(
    transport: ScriptedTransport, retries: int = 3
) -> tuple[Pipeline, MemorySink, Recorder, list[float]]:
    sink, rec, sleeps = MemorySink(), Recorder(), []
    pipe = Pipeline(
        transport=transport,
        options=SynthesisOptions(voice_id="magnus", sample_rate=RATE),
        sinks=[sink],
        observer=rec,
        retries=retries,
        sleep=sleeps.append,
    )
    return pipe, sink, rec, sleeps


class OddTransport(ScriptedTransport):
    """Sends each request's audio with one stray byte at its end, in chunks of odd sizes."""

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        self.bodies.append(body)
        data = audio_for(body["text"]) + b"\x7f"
        for i in range(0, len(data), 33):
            yield AudioChunk(data[i : i + 33])
        yield Done(request_id="req")


def test_a_half_sample_is_joined_across_chunks_and_dropped_at_a_segments_end() -> None:
    pipe, sink, _, _ = make(OddTransport())
    stats = pipe.run(["one", "two", "three"])
    assert bytes(sink.data) == audio_for("one") + audio_for("two") + audio_for("three")
    assert stats.audio_bytes == len(sink.data)


class SilentTransport(ScriptedTransport):
    """Answers the first `silent` requests with no audio at all, then as ScriptedTransport does."""

    def __init__(self, silent: int) -> None:
        super().__init__()
        self.silent = silent

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        if self.silent:
            self.silent -= 1
            self.bodies.append(body)
            return iter([Done(request_id="empty")])
        return super().stream(body)


class HalfThenFailTransport(ScriptedTransport):
    """The first take sends one byte and breaks; the next one is whole."""

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        if not self.bodies:
            self.bodies.append(body)
            yield AudioChunk(b"\x55")
            raise NetworkError("dropped")
        yield from super().stream(body)


def test_a_half_sample_of_a_failed_take_does_not_reach_the_retry() -> None:
    pipe, sink, rec, _ = make(HalfThenFailTransport())
    pipe.run(["one"])
    assert bytes(sink.data) == audio_for("one") and len(rec.retries) == 1


def test_an_answer_with_no_audio_is_a_fault_that_is_retried() -> None:
    pipe, sink, rec, _ = make(SilentTransport(silent=1))
    pipe.run(["one"])
    assert bytes(sink.data) == audio_for("one") and len(rec.retries) == 1
    pipe, sink, _, _ = make(SilentTransport(silent=3), retries=2)
    no_audio = r"^the server answered with no audio \(request id empty\)"
    with pytest.raises(ProtocolError, match=no_audio) as caught:
        pipe.run(["one"])
    assert caught.value.request_id == "empty" and sink.aborted


def test_segments_in_order_into_the_sink() -> None:
    pipe, sink, rec, _ = make(ScriptedTransport())
    stats = pipe.run(["first part", "second"])
    assert bytes(sink.data) == audio_for("first part") + audio_for("second")
    assert sink.closed and not sink.aborted
    assert stats.segments == 2
    assert rec.segments == [(1, len("first part")), (2, len("first part") + len("second"))]
    assert stats.audio_bytes == len(sink.data)
    assert stats.audio_seconds == pytest.approx(len(sink.data) / (2 * RATE))
    assert stats.first_chunk_ms is not None and stats.retries == 0


@pytest.mark.parametrize("after", [0, 1, 3, 7])
def test_retry_resumes_without_gap_or_duplicate(after: int) -> None:
    transport = ScriptedTransport([(ProtocolError("stream ended before done (truncated)"), after)])
    pipe, sink, rec, sleeps = make(transport)
    stats = pipe.run(["hello there"])
    assert bytes(sink.data) == audio_for("hello there")
    assert stats.retries == 1 and sleeps == [0.5]
    # Words are not repeated either.
    assert [w.id for w in rec.words] == sorted({w.id for w in rec.words})


def test_a_retry_is_a_new_take_a_file_keeps_whole_a_stream_resumes() -> None:
    """Nothing says two renders of one text are equal: the file rolls back and keeps the retry's
    take whole; stdout and the speakers cannot take bytes back and continue at the same offset."""
    transport = ScriptedTransport([None, (NetworkError("dropped"), 3)], varied=True)  # type: ignore[list-item]
    rewinding, streaming = RewindingSink(), MemorySink()
    pipe = Pipeline(transport=transport, options=SynthesisOptions(voice_id="magnus", sample_rate=RATE),
                    sinks=[rewinding, streaming], sleep=lambda s: None)
    stats = pipe.run(["first words", "hello there"])
    first = audio_for("first words", 1)
    take_1, take_2 = audio_for("hello there", 2), audio_for("hello there", 3)
    assert take_1 != take_2
    assert bytes(rewinding.data) == first + take_2
    assert bytes(streaming.data) == first + take_1[:300] + take_2[300:]
    assert stats.retries == 1 and stats.audio_bytes == len(first + take_2)


def test_word_times_are_offset_by_earlier_segments() -> None:
    pipe, _, rec, _ = make(ScriptedTransport())
    pipe.run(["abcd", "efgh"])
    first_len = len(audio_for("abcd")) / (2 * RATE)
    second = [w for w in rec.words if w.start >= first_len]
    assert second and second[0].start == pytest.approx(first_len)
    assert len(rec.words) == 2 * len(second)


def test_backoff_doubles_and_honours_retry_after() -> None:
    transport = ScriptedTransport(
        [(NetworkError("x"), 0), (NetworkError("x"), 0), (RateLimitError("busy", retry_after=2.0), 0)]
    )
    pipe, sink, _, sleeps = make(transport, retries=3)
    stats = pipe.run(["ok"])
    assert sleeps == [0.5, 1.0, 2.0]
    assert stats.retries == 3 and bytes(sink.data) == audio_for("ok")
    assert [backoff_delay(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_a_long_retry_after_is_capped() -> None:
    """Retry-After: 600 must not hold a shell or a CI job for ten minutes."""
    assert backoff_delay(0, 600) == 30
    assert backoff_delay(0, 600, max_wait=2.0) == 2.0
    assert backoff_delay(0, 0.3, max_wait=2.0) == 0.3
    assert backoff_delay(5, None, max_wait=1.5) == 1.5


def test_gives_up_after_retries_and_aborts_sinks() -> None:
    transport = ScriptedTransport([(RateLimitError("rate limited (429)"), 2)] * 3)
    pipe, sink, _, sleeps = make(transport, retries=2)
    with pytest.raises(RateLimitError) as info:
        pipe.run(["some text"])
    assert sink.aborted and not sink.closed
    assert "partial output removed" in str(info.value)
    assert len(sleeps) == 2


def test_non_retryable_error_fails_at_once() -> None:
    pipe, sink, _, sleeps = make(ScriptedTransport([(AuthError("bad key"), 0)]))
    with pytest.raises(AuthError):
        pipe.run(["x"])
    assert sleeps == [] and sink.aborted


class FailingSink(MemorySink):
    """Fails with a (retryable) ProtocolError at write `at`: a sink's own failure."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.writes = at, 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.writes == self.at:
            raise ProtocolError("cannot write the audio")
        super().write(data)


def test_a_failing_sink_is_not_retried_so_no_sink_gets_audio_twice() -> None:
    first, failing, sleeps = MemorySink(), FailingSink(at=3), []
    transport = ScriptedTransport()
    options = SynthesisOptions(voice_id="magnus", sample_rate=RATE)
    pipe = Pipeline(transport=transport, options=options, sinks=[first, failing],
                    sleep=sleeps.append)
    with pytest.raises(ProtocolError, match="cannot write"):
        pipe.run(["hello there"])
    assert sleeps == [] and len(transport.bodies) == 1
    assert bytes(first.data) == audio_for("hello there")[:300] and first.aborted


def test_stats_report_the_files_format() -> None:
    opts = SynthesisOptions(voice_id="magnus", sample_rate=RATE)
    stats = Pipeline(transport=ScriptedTransport(), options=opts, sinks=[], file_format="wav").run(["hi"])
    assert stats.output_format == "wav"
    stats = Pipeline(transport=ScriptedTransport(), options=opts, sinks=[]).run(["hi"])
    assert stats.output_format == "pcm"


def test_ctrl_c_becomes_interrupted_with_the_abort_note() -> None:
    pipe, sink, _, _ = make(ScriptedTransport([(KeyboardInterrupt(), 1)]))  # type: ignore[list-item]
    with pytest.raises(Interrupted) as info:
        pipe.run(["x" * 10])
    assert info.value.exit_code == 130 and sink.aborted
    assert "partial output removed" in str(info.value)


def test_a_fault_of_ours_still_keeps_the_audio_and_shows_its_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pipe, sink, _, _ = make(ScriptedTransport([(RuntimeError("a bug"), 2)]))  # type: ignore[list-item]
    with pytest.raises(RuntimeError, match="a bug"):
        pipe.run(["x" * 10])
    assert sink.aborted and not sink.closed
    assert capsys.readouterr().err == (
        "smallest: unexpected failure; the audio received so far is in partial output removed\n"
    )


class WordLog:
    """A word sink that notes what it is told, and how much audio the sink had by then."""

    def __init__(self, audio: MemorySink) -> None:
        self.audio, self.calls = audio, list[tuple[str, object]]()

    def begin_segment(self, text: str | None) -> None:
        self.calls.append(("begin", text))

    def add(self, word: WordTimestamp) -> None:
        assert word.end <= len(self.audio.data) / (2 * RATE), "a word before its audio"
        self.calls.append(("word", word.word))

    def end_segment(self) -> None:
        self.calls.append(("end", None))

    def close(self) -> None:
        self.calls.append(("close", None))

    def abort(self) -> str | None:
        self.calls.append(("abort", None))
        return "subs.srt.part"


def test_word_sinks_get_each_text_and_a_word_once_its_audio_is_in() -> None:
    sink = MemorySink()
    log = WordLog(sink)
    options = SynthesisOptions(voice_id="magnus", sample_rate=RATE)
    pipe = Pipeline(transport=ScriptedTransport(), options=options, sinks=[sink], word_sinks=[log])
    pipe.run(["abcd", "ef"])
    assert log.calls == [
        ("begin", "abcd"), ("word", "w0"), ("word", "w1"), ("end", None),
        ("begin", "ef"), ("word", "w0"), ("end", None), ("close", None),
    ]
    # A word whose audio never came is not given; the note names what the word sink kept.
    sink = MemorySink()
    log = WordLog(sink)
    pipe = Pipeline(transport=ScriptedTransport([(NetworkError("dropped"), 5)]), options=options,
                    sinks=[sink], word_sinks=[log], retries=0)
    with pytest.raises(NetworkError) as info:
        pipe.run(["abcdefgh"])
    assert log.calls == [("begin", "abcdefgh"), ("word", "w0"), ("abort", None)]  # w1 ends after chunk 5
    assert str(info.value).endswith(
        "the audio received so far is in partial output removed; the captions so far are in subs.srt.part"
    )


def test_short_text_is_one_segment_long_text_is_split() -> None:
    assert segments_for_text("  Hello.\n") == ["Hello."]
    assert segments_for_text(" \n ") == []
    long = "This is a sentence of moderate length. " * 20
    parts = segments_for_text(long)
    assert len(parts) > 1 and all(len(p) <= 250 for p in parts)
    assert " ".join(parts).split() == long.split()


def test_streamed_input_matches_whole_text_rules() -> None:
    assert list(segments_from_chunks(["Hello\n", "world\n"])) == ["Hello\nworld"]
    long_lines = [f"Line number {i} says something short.\n" for i in range(30)]
    parts = list(segments_from_chunks(iter(long_lines)))
    assert len(parts) > 1 and all(len(p) <= 250 for p in parts)
    assert " ".join(parts).split() == "".join(long_lines).split()


def test_empty_input_is_a_usage_error_before_anything_runs() -> None:
    from smallest_cli.errors import UsageError

    with pytest.raises(UsageError):
        first_and_rest(segments_from_chunks(["  \n"]))


class RechunkingTransport:
    """The first take in 100-byte chunks, dropped after 3; the retry's take in 250-byte chunks,
    whose boundaries fall inside what the first one delivered."""

    name = "fake"

    def __init__(self) -> None:
        self.takes = 0

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        self.takes += 1
        data = audio_for(body["text"], self.takes)
        size = 100 if self.takes == 1 else 250
        for n, i in enumerate(range(0, len(data), size)):
            if self.takes == 1 and n == 3:
                raise NetworkError("dropped")
            yield AudioChunk(data[i : i + size])
        yield Done(request_id="req")


def test_a_stream_resumes_mid_chunk_when_the_retry_is_cut_differently() -> None:
    rewinding, streaming = RewindingSink(), MemorySink()
    options = SynthesisOptions(voice_id="magnus", sample_rate=RATE)
    pipe = Pipeline(transport=RechunkingTransport(), options=options, sinks=[rewinding, streaming],
                    sleep=lambda s: None)
    pipe.run(["hello there"])
    first, second = audio_for("hello there", 1), audio_for("hello there", 2)
    assert bytes(rewinding.data) == second
    assert bytes(streaming.data) == first[:300] + second[300:]


class JoiningTransport:
    """Answers with chunks that each join three of the server's 100-byte chunks."""

    name = "fake"

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        data = audio_for(body["text"])
        for i in range(0, len(data), 300):
            yield AudioChunk(data[i : i + 300], pieces=3)
        yield Done(request_id="req")


def test_a_joined_chunk_counts_as_the_servers_chunks_it_holds() -> None:
    sink = MemorySink()
    options = SynthesisOptions(voice_id="magnus", sample_rate=RATE)
    pipe = Pipeline(transport=JoiningTransport(), options=options, sinks=[sink], sleep=lambda s: None)
    stats = pipe.run(["hello there"])
    assert bytes(sink.data) == audio_for("hello there")
    assert stats.chunks == 3 * -(-len(sink.data) // 300)
