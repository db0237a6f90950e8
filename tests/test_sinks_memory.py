"""Memory stays flat however long the audio is: 10 minutes through FileSink in every format."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest

from smallest_cli.output.sinks import FileSink

RATE = 24000
CHUNK = struct.pack("<1024h", *range(-512, 512))  # ~43 ms of audio
MINUTES = 10
N_CHUNKS = MINUTES * 60 * RATE * 2 // len(CHUNK)
LIMIT = 2 * 1024 * 1024  # 10 minutes of 24 kHz PCM is ~29 MB; a streaming path stays far below


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


#: About 10 s of audio per segment: what one request of at most 250 characters brings.
SEGMENT_CHUNKS = 240


@pytest.mark.parametrize("fmt", ["wav", "pcm", "ulaw", "alaw", "mp3"])
def test_file_sink_memory_is_flat(tmp_path: Path, fmt: str) -> None:
    """10 minutes of PCM in retryable segments: a sample format writes through, mp3 holds at most
    one segment's PCM (so it can roll a retried segment back)."""
    out = tmp_path / f"long.{fmt}"
    FileSink(tmp_path / f"warm.{fmt}", fmt, RATE).write(CHUNK)  # imports and tables are not per-chunk

    def run() -> None:
        sink = FileSink(out, fmt, RATE)
        for n in range(N_CHUNKS):
            if n % SEGMENT_CHUNKS == 0:
                sink.end_segment()
                sink.begin_segment(retryable=True)
            sink.write(CHUNK)
        sink.close()

    assert _peak(run) < LIMIT
    minimum = {"wav": 2, "pcm": 2, "ulaw": 1, "alaw": 1, "mp3": 0.05}[fmt]
    assert out.stat().st_size >= N_CHUNKS * len(CHUNK) // 2 * minimum
