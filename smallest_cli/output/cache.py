"""The audio cache (`--cache`, `cache = true`): whole renders kept in a directory (by default
`$XDG_CACHE_HOME/smallest`, `options.config.cache_dir`) and replayed with no request.

An entry is a directory named by its key (`cache_key`: the sha256 of a canonical JSON of every
field that shapes the audio) holding

* `audio.pcm`: the render's 16-bit mono PCM, what every transport carries. The file formats are
  made from it on the way out, as on a miss, so one entry serves wav, mp3, pcm, μ-law and A-law;
* `index.jsonl`: one line per request, in order: `{"bytes": N}`, and `"words"` (`[id, word, start,
  end]` on the run's timeline) when the render had word timestamps, so a hit writes captions too.

`EntryWriter` is a sink of the run: it streams the PCM into a directory of its own (memory stays
flat) and renames it into place only when the render is whole; a failure or Ctrl-C removes it, and
a rename onto an entry another run stored meanwhile fails, so two runs never mix their files. A hit
sets the entry's mtime; after each store the least recently used entries go until the cache is
under its cap. The cache never fails a run: what cannot be written is a warning, and not cached.

It lives in output/ because it is written as the other outputs are, by the pipeline; the run layer
(`run.cached`) reads an entry back in place of a transport, so every import still points downstream.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

from smallest_cli.errors import UsageError
from smallest_cli.events import WordTimestamp
from smallest_cli.output.plan import close_quietly
from smallest_cli.protocol.request import SynthesisOptions, build_request

AUDIO = "audio.pcm"
INDEX = "index.jsonl"
#: Part of every key: a change of the entries' layout makes the old ones misses, never misread.
LAYOUT = 1
#: Request fields that do not change the audio: ids the service only echoes back.
_NOT_AUDIO = ("request_id", "session_id")
_KEY_RE = r"[0-9a-f]{64}"
#: Bytes of PCM per chunk replayed from an entry.
READ_BYTES = 64 * 1024


def cache_key(text_digest: str, options: SynthesisOptions, base_url: str) -> str:
    """The entry name of a render: the sha256 of a canonical JSON (sorted keys, no spaces) of the
    request body, the text standing as `text_digest` (of every request's text, in order), less the
    ids the service only echoes; and the server, which renders what it likes. Every other request
    field is in: voice, model, sample rate, speed, language, pronunciation dicts, math notation,
    number language, word timestamps (the entry then holds the words). Not the transport: every
    transport carries the same PCM; not the file format: the entry is PCM."""
    body = build_request(text_digest, options)
    fields = {k: v for k, v in body.items() if k not in _NOT_AUDIO}
    fields.update(base_url=base_url, layout=LAYOUT)
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Segment(NamedTuple):
    """One request's part of an entry: its PCM bytes and its words (on the run's timeline)."""

    audio_bytes: int
    words: list[WordTimestamp]


class Entry:
    """A stored render, its files open: an eviction or `cache clear` meanwhile does not disturb
    reading them."""

    def __init__(self, index: IO[str], audio: IO[bytes]) -> None:
        self._index = index
        self._audio = audio

    def segments(self) -> Iterator[Segment]:
        """Each request's part, read line by line."""
        self._index.seek(0)
        for line in self._index:
            record = json.loads(line)
            words = record.get("words", [])
            yield Segment(int(record["bytes"]), [WordTimestamp(int(i), w, s, e) for i, w, s, e in words])

    def audio(self, size: int) -> Iterator[bytes]:
        """The next `size` bytes of PCM, in chunks; UsageError when the file ends first."""
        while size > 0:
            try:
                data = self._audio.read(min(size, READ_BYTES))
            except OSError as err:
                raise UsageError(f"cannot read the audio cache: {err.strerror or err}") from None
            if not data:
                raise UsageError("an audio cache entry is cut short; run `smallest cache clear`")
            size -= len(data)
            yield data

    def whole(self, requests: int) -> bool:
        """Whether the entry has `requests` lines whose sizes add up to its PCM."""
        count = size = 0
        try:
            for segment in self.segments():
                count += 1
                size += segment.audio_bytes
            return count == requests and size == os.fstat(self._audio.fileno()).st_size
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def close(self) -> None:
        self._index.close()
        self._audio.close()


class EntryInfo(NamedTuple):
    path: Path
    size: int
    #: When it was stored or last used.
    used: float


class CacheStore:
    """The cache's directory, and its size cap in bytes."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        #: Set when a render could not be written: a batch's later rows store nothing and warn no
        #: more (one warning per run).
        self.failed = False

    def entries(self) -> list[EntryInfo]:
        """Every stored entry (not those being written or removed)."""
        found = []
        try:
            children = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        except OSError as err:
            raise UsageError(f"cannot read {self.directory}: {err.strerror or err}") from None
        for child in children:
            if not re.fullmatch(_KEY_RE, child.name):
                continue
            try:
                size = sum(f.stat().st_size for f in os.scandir(child.path))
                found.append(EntryInfo(Path(child.path), size, child.stat().st_mtime))
            except OSError:
                continue  # removed meanwhile
        return found

    def open(self, key: str, requests: int) -> Entry | None:
        """The entry of `key` made of `requests` requests, marked as used; None for a miss. An
        entry that is not whole is removed, so that this run's render can take its place."""
        path = self.directory / key
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return None
        try:
            # Both files of the one directory opened: a new entry renamed into place meanwhile
            # cannot give the index of one render and the audio of another.
            def at(name: str, flags: int) -> int:
                return os.open(name, flags, dir_fd=fd)

            index = open(INDEX, encoding="utf-8", opener=at)  # noqa: SIM115 - the Entry closes it
            try:
                entry = Entry(index, open(AUDIO, "rb", opener=at))  # noqa: SIM115
            except OSError:
                index.close()
                raise
        except OSError:
            return None
        finally:
            os.close(fd)
        if not entry.whole(requests):
            entry.close()
            _remove(path)
            return None
        try:
            os.utime(path)
        except OSError:
            pass
        return entry

    def writer(self, key: str, warn: Callable[[str], None]) -> EntryWriter:
        return EntryWriter(self, key, warn)

    def evict(self) -> None:
        """Remove the least recently used entries until the cache is within its cap."""
        entries = sorted(self.entries(), key=lambda e: e.used)
        total = sum(e.size for e in entries)
        for entry in entries:
            if total <= self.max_bytes:
                return
            if _remove(entry.path):
                total -= entry.size

    def clear(self) -> tuple[int, int]:
        """Remove every entry, and the work directories of writers that died; returns how many
        entries and their bytes."""
        removed = [e for e in self.entries() if _remove(e.path)]
        self._remove_orphans()
        return len(removed), sum(e.size for e in removed)

    def _remove_orphans(self) -> None:
        """A writer killed (SIGKILL, a power cut) leaves its `.tmp-KEY-PID-*` directory; one whose
        process is gone is removed, a live one's is left to it."""
        try:
            children = list(os.scandir(self.directory))
        except OSError:
            return
        for child in children:
            match = re.fullmatch(r"\.(?:tmp|del)-[0-9a-f]+-(\d+)-[0-9a-f]+", child.name)
            if match is not None and not _alive(int(match.group(1))):
                shutil.rmtree(child.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True


def _remove(path: Path) -> bool:
    """Take an entry out of use at once (one rename, so no reader sees half of it), then delete it.
    False when it was gone already."""
    doomed = path.with_name(f".del-{path.name}-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.rename(path, doomed)
    except OSError:
        return False
    shutil.rmtree(doomed, ignore_errors=True)
    return True


class EntryWriter:
    """An AudioSink (output.sinks) that keeps a render in the cache. Its `words` must be among the
    run's word sinks: it writes each request's line of the index once the request's words are all
    in. Put first among the sinks, it stores a whole render even when playing its end is stopped."""

    def __init__(self, store: CacheStore, key: str, warn: Callable[[str], None]) -> None:
        self._store = store
        self._key = key
        self._warn = warn
        self._work = store.directory / f".tmp-{key[:16]}-{os.getpid()}-{secrets.token_hex(4)}"
        self._audio: IO[bytes] | None = None
        self._index: IO[str] | None = None
        self._size = 0
        self._mark = 0
        self.words = _IndexLines(self)
        if store.failed:
            return  # warned already: this run stores nothing more
        try:
            store.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._work.mkdir(mode=0o700)
            self._audio = open(self._work / AUDIO, "wb")  # noqa: SIM115 - closed in close/abort
            self._index = open(self._work / INDEX, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as err:
            self._fail(err)

    def _fail(self, err: OSError) -> None:
        """Stop caching this run (its files removed), with one warning."""
        self.abort()
        if self._store.failed:
            return
        self._store.failed = True
        where = err.filename or self._store.directory
        self._warn(f"smallest: warning: not cached: cannot write {where}: {err.strerror or err}")

    # -- AudioSink --------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._audio is None:
            return
        try:
            self._audio.write(data)
        except OSError as err:
            self._fail(err)
            return
        self._size += len(data)

    def begin_segment(self, retryable: bool) -> None:
        self._mark = self._size

    def rollback(self) -> bool:
        """Forget the segment's take: the entry keeps the retry's audio whole, as a file does."""
        if self._audio is not None:
            try:
                self._audio.truncate(self._mark)
                self._audio.seek(self._mark)
            except OSError as err:
                self._fail(err)
        self._size = self._mark
        return True

    def end_segment(self) -> None:
        return None

    def close(self) -> None:
        """The render is whole: put the entry in place, then keep the cache within its cap."""
        audio, index = self._audio, self._index
        if audio is None or index is None:
            return
        self._audio = self._index = None
        final = self._store.directory / self._key
        try:
            audio.close()
            index.close()
            os.rename(self._work, final)
        except OSError as err:
            if not final.is_dir():
                self._warn(f"smallest: warning: not cached: cannot write {final}: {err.strerror or err}")
            # else another run stored this render meanwhile: theirs stays.
            shutil.rmtree(self._work, ignore_errors=True)
            return
        try:
            self._store.evict()
        except UsageError as err:
            self._warn(f"smallest: warning: {err}")

    def abort(self) -> str | None:
        """Store nothing: only whole renders are cached."""
        close_quietly(self._audio, self._index)
        self._audio = self._index = None
        shutil.rmtree(self._work, ignore_errors=True)
        return None

    def end_request(self, words: list[list[Any]]) -> None:
        """One request's audio and words are all in: its line of the index."""
        if self._index is None:
            return
        record: dict[str, Any] = {"bytes": self._size - self._mark}
        if words:
            record["words"] = words
        try:
            self._index.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as err:
            self._fail(err)


class _IndexLines:
    """The WordSink of an EntryWriter: each request's words, and the end of its audio."""

    def __init__(self, writer: EntryWriter) -> None:
        self._writer = writer
        self._words: list[list[Any]] = []

    def begin_segment(self, text: str | None) -> None:
        self._words = []

    def add(self, word: WordTimestamp) -> None:
        self._words.append([word.id, word.word, word.start, word.end])

    def end_segment(self) -> None:
        self._writer.end_request(self._words)
        self._words = []

    def close(self) -> None:
        return None

    def abort(self) -> str | None:
        return None
