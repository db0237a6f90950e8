"""`--cache` in a run: the whole text is read and split into its requests before any connection, to
name the render (`output.cache.cache_key`); a hit is replayed into the pipeline in place of a
transport, a miss streams as usual with the cache's writer among the sinks.

Live text (`--live`, or piped text that keeps arriving) is never cached: it is spoken before it
has all arrived, and only the whole text can name the render.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from smallest_cli.errors import UsageError
from smallest_cli.events import AudioChunk, Done, Event
from smallest_cli.output.cache import CacheStore, Entry, EntryWriter, Segment, cache_key
from smallest_cli.protocol.request import SynthesisOptions
from smallest_cli.run.pipeline import Prepared

#: Request texts kept in memory up to this size; beyond it they are spooled to a temporary file.
SPOOL_MEMORY_CHARS = 1 << 20


class Requests:
    """The text of every request of a run, in order, spooled so that memory stays flat however long
    the input, with their digest: the sha256 of one JSON string per line."""

    def __init__(self, texts: Iterable[str]) -> None:
        self._file = tempfile.SpooledTemporaryFile(SPOOL_MEMORY_CHARS, mode="w+", encoding="utf-8")
        digest = hashlib.sha256()
        self.count = 0
        try:
            for text in texts:
                line = json.dumps(text, ensure_ascii=False) + "\n"
                self._file.write(line)
                digest.update(line.encode("utf-8"))
                self.count += 1
        except OSError as err:
            self._file.close()
            raise UsageError(f"cannot keep the text in a temporary file: {err.strerror or err}") from None
        self.digest = digest.hexdigest()

    def __iter__(self) -> Iterator[str]:
        self._file.seek(0)
        for line in self._file:
            yield json.loads(line)

    def close(self) -> None:
        self._file.close()


class Lookup(NamedTuple):
    """A render's key, its requests, and the entry when it is a hit."""

    store: CacheStore
    key: str
    requests: Requests
    entry: Entry | None

    def writer(self, warn: Callable[[str], None]) -> EntryWriter:
        """The sink that stores this render (a miss) as it streams."""
        return self.store.writer(self.key, warn)

    def close(self) -> None:
        self.requests.close()
        if self.entry is not None:
            self.entry.close()


def look_up(store: CacheStore, texts: Iterable[str], options: SynthesisOptions, base_url: str) -> Lookup:
    """Read every request's text (`texts`, the segments), name the render and open its entry."""
    requests = Requests(texts)
    key = cache_key(requests.digest, options, base_url)
    return Lookup(store, key, requests, store.open(key, requests.count))


def replay(entry: Entry, requests: Iterable[str]) -> Iterator[Prepared]:
    """The stored render as the pipeline's requests: each one's words, then its audio."""
    for text, segment in zip(requests, entry.segments(), strict=True):
        yield Prepared({"text": text}, _events(entry, segment), again=_not_again, replayed=True)


def _not_again() -> None:
    """A stored render is not asked for again: a failure to read it ends the run."""
    return None


def _events(entry: Entry, segment: Segment) -> Iterator[Event]:
    yield from segment.words
    for data in entry.audio(segment.audio_bytes):
        yield AudioChunk(data)
    yield Done()


class NoTransport:
    """The transport of a hit: every event comes from the entry, and no request is ever sent."""

    def __init__(self, name: str) -> None:
        self.name = name

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        raise AssertionError("a cache hit sends no request")

    def stream_live(self, messages: Iterable[dict[str, Any]]) -> Iterator[Event]:
        raise AssertionError("a cache hit sends no request")

    def preconnect(self, live: bool = False) -> None:
        return None

    def expect_more(self) -> None:
        return None

    def close(self) -> None:
        return None
