"""The audio cache's pieces: its key, its entries (stored whole or not at all), LRU eviction, the
request texts' spool, and its settings (flag, config file). End to end: tests/test_cache_cli.py."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smallest_cli.errors import UsageError
from smallest_cli.events import WordTimestamp
from smallest_cli.options import config
from smallest_cli.options.resolve import MB, resolve_cache
from smallest_cli.output.cache import CacheStore, EntryWriter, cache_key
from smallest_cli.protocol.request import SynthesisOptions
from smallest_cli.run.cached import Requests, look_up

OPTIONS = SynthesisOptions(voice_id="magnus", sample_rate=24000)
URL = "http://127.0.0.1:8123"
DIGEST = Requests(["Hello there."]).digest

# -- the key ----------------------------------------------------------------------------------------

#: A different value for every field of SynthesisOptions.
CHANGED = {
    "voice_id": "avery", "sample_rate": 16000, "model": "lightning_v3.1_pro", "speed": 1.25,
    "language": "hi", "word_timestamps": True, "pronunciation_dicts": ("dict1",), "math_notation": True,
    "number_language": "en", "request_id": "req-1", "session_id": "sess-1",
}
#: Fields the service only echoes back: the same audio.
ECHOED = {"request_id", "session_id"}


def test_every_option_is_covered_by_the_test() -> None:
    assert {f.name for f in dataclasses.fields(SynthesisOptions)} == set(CHANGED)


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_a_field_that_shapes_the_audio_changes_the_key(field: str) -> None:
    changed = dataclasses.replace(OPTIONS, **{field: CHANGED[field]})
    same = field in ECHOED
    assert (cache_key(DIGEST, changed, URL) == cache_key(DIGEST, OPTIONS, URL)) is same


def test_the_same_settings_give_the_same_key() -> None:
    again = SynthesisOptions(voice_id="magnus", sample_rate=24000, speed=1.0)
    assert cache_key(Requests(["Hello there."]).digest, again, URL) == cache_key(DIGEST, OPTIONS, URL)


def test_the_text_and_the_server_change_the_key() -> None:
    key = cache_key(DIGEST, OPTIONS, URL)
    assert cache_key(Requests(["Hello there!"]).digest, OPTIONS, URL) != key
    assert cache_key(DIGEST, OPTIONS, "https://api.smallest.ai") != key


def test_the_order_and_split_of_the_requests_change_the_digest() -> None:
    assert Requests(["a b", "c"]).digest != Requests(["a", "b c"]).digest
    assert Requests(["a", "b"]).digest != Requests(["b", "a"]).digest
    assert Requests(["a", "b"]).digest == Requests(iter(["a", "b"])).digest


def test_the_key_is_the_sha256_of_a_canonical_json() -> None:
    """Sorted keys, no spaces: the same fields written in any order give the same key."""
    fields = {
        "voice_id": "magnus", "text": DIGEST, "speed": 1.0, "sample_rate": 24000, "output_format": "pcm",
        "model": "lightning_v3.1", "layout": 1, "base_url": URL,
    }
    canonical = json.dumps(dict(sorted(fields.items())), separators=(",", ":"))
    assert cache_key(DIGEST, OPTIONS, URL) == hashlib.sha256(canonical.encode()).hexdigest()


def test_the_requests_read_back_as_they_went_in() -> None:
    texts = ["Line one,\nwith a break.", "ünïcode ✓", '"quoted" \\ back'] * 3
    requests = Requests(texts)
    assert list(requests) == texts and list(requests) == texts  # read again, from the start
    assert requests.count == len(texts)
    requests.close()


def test_requests_spill_to_disk_beyond_the_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from smallest_cli.run import cached

    monkeypatch.setattr(cached, "SPOOL_MEMORY_CHARS", 100)
    requests = cached.Requests(["x" * 60] * 10)
    assert requests._file._rolled  # type: ignore[attr-defined]
    assert list(requests) == ["x" * 60] * 10


# -- entries ----------------------------------------------------------------------------------------


def store_in(tmp_path: Path, max_bytes: int = 10 * MB) -> CacheStore:
    return CacheStore(tmp_path / "cache" / "smallest", max_bytes)


def render(writer: EntryWriter, *segments: bytes, words: bool = False) -> None:
    """Feed `writer` what the pipeline gives its sinks for these requests' audio."""
    for n, pcm in enumerate(segments):
        writer.begin_segment(retryable=True)
        writer.words.begin_segment(f"text {n}")
        writer.write(pcm)
        writer.end_segment()
        if words:
            writer.words.add(WordTimestamp(n, f"w{n}", n + 0.1, n + 0.2))
        writer.words.end_segment()


def test_a_stored_render_reads_back_whole(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    writer = store.writer("a" * 64, print)
    render(writer, b"\x01\x00" * 10, b"\x02\x00" * 5, words=True)
    writer.close()
    entry = store.open("a" * 64, requests=2)
    assert entry is not None
    segments = list(entry.segments())
    assert [s.audio_bytes for s in segments] == [20, 10]
    assert segments[1].words == [WordTimestamp(1, "w1", 1.1, 1.2)]
    assert b"".join(entry.audio(20)) == b"\x01\x00" * 10
    assert b"".join(entry.audio(10)) == b"\x02\x00" * 5
    entry.close()


def test_nothing_is_visible_until_the_render_is_whole(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    writer = store.writer("b" * 64, print)
    render(writer, b"\x01\x00" * 10)
    assert store.entries() == [] and store.open("b" * 64, requests=1) is None
    writer.close()
    assert len(store.entries()) == 1


def test_an_aborted_render_leaves_nothing(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    writer = store.writer("c" * 64, print)
    render(writer, b"\x01\x00" * 10)
    writer.abort()
    writer.close()  # the pipeline may close what it aborted: still nothing
    assert os.listdir(store.directory) == []


def test_a_retried_request_keeps_the_retry_whole(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    writer = store.writer("d" * 64, print)
    render(writer, b"\x01\x00" * 4)
    writer.begin_segment(retryable=True)
    writer.words.begin_segment("second")
    writer.write(b"\x07\x00" * 3)  # the first take breaks off
    assert writer.rollback()
    writer.write(b"\x02\x00" * 6)
    writer.end_segment()
    writer.words.end_segment()
    writer.close()
    entry = store.open("d" * 64, requests=2)
    assert entry is not None
    assert [s.audio_bytes for s in entry.segments()] == [8, 12]
    assert b"".join(entry.audio(20)) == b"\x01\x00" * 4 + b"\x02\x00" * 6
    entry.close()


def test_two_runs_storing_one_key_never_mix_their_files(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    first, second = store.writer("e" * 64, print), store.writer("e" * 64, print)
    render(first, b"\x01\x00" * 10)
    render(second, b"\x02\x00" * 4, b"\x03\x00" * 4)
    first.close()
    second.close()  # the entry is in place already: the second render is dropped, silently
    entry = store.open("e" * 64, requests=1)
    assert entry is not None and b"".join(entry.audio(20)) == b"\x01\x00" * 10
    entry.close()
    assert os.listdir(store.directory) == ["e" * 64]


def test_an_entry_that_is_not_whole_is_a_miss_and_is_removed(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    writer = store.writer("f" * 64, print)
    render(writer, b"\x01\x00" * 10)
    writer.close()
    assert store.open("f" * 64, requests=2) is None  # another segmentation: not this render
    assert store.entries() == []
    writer = store.writer("f" * 64, print)
    render(writer, b"\x01\x00" * 10)
    writer.close()
    with (store.directory / ("f" * 64) / "audio.pcm").open("ab") as pcm:
        pcm.write(b"\0\0")
    assert store.open("f" * 64, requests=1) is None


def test_an_open_entry_reads_on_after_it_is_cleared(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    writer = store.writer("9" * 64, print)
    render(writer, b"\x05\x00" * 10)
    writer.close()
    entry = store.open("9" * 64, requests=1)
    assert entry is not None
    assert store.clear() == (1, 20 + len('{"bytes": 20}\n'))
    assert b"".join(entry.audio(20)) == b"\x05\x00" * 10
    entry.close()


def test_a_cache_that_cannot_be_written_warns_and_stores_nothing(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file where the directory should be")
    said: list[str] = []
    store = store_in(tmp_path)
    for key in ("0" * 64, "1" * 64, "2" * 64):  # a batch's rows: one warning for the run
        writer = store.writer(key, said.append)
        render(writer, b"\x01\x00")
        writer.close()
    assert len(said) == 1 and said[0].startswith("smallest: warning: not cached: cannot write")


def test_clearing_removes_what_killed_writers_left_and_no_live_one(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    writer = store.writer("1" * 64, print)
    render(writer, b"\x01\x00")
    writer.close()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    orphan = store.directory / f".tmp-{'2' * 16}-{dead.stdout.strip()}-0a1b2c3d"
    orphan.mkdir()
    (orphan / "audio.pcm").write_bytes(b"\0" * 1000)
    live = store.directory / f".tmp-{'3' * 16}-{os.getpid()}-0a1b2c3d"
    live.mkdir()
    assert store.clear()[0] == 1
    assert [p.name for p in store.directory.iterdir()] == [live.name]


def test_the_least_recently_used_entries_go_first(tmp_path: Path) -> None:
    store = store_in(tmp_path, max_bytes=2500)
    pcm = b"\0" * 1000
    for n, key in enumerate(["1" * 64, "2" * 64]):
        writer = store.writer(key, print)
        render(writer, pcm)
        writer.close()
        os.utime(store.directory / key, (1000 + n, 1000 + n))
    hit = store.open("1" * 64, requests=1)  # used: now the most recent
    assert hit is not None
    hit.close()
    writer = store.writer("3" * 64, print)
    render(writer, pcm)
    writer.close()  # three entries are over the cap: the least recently used one goes
    assert sorted(e.path.name for e in store.entries()) == ["1" * 64, "3" * 64]
    assert sum(e.size for e in store.entries()) <= store.max_bytes


def test_look_up_names_the_render_and_finds_it(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    miss = look_up(store, ["One.", "Two."], OPTIONS, URL)
    assert miss.entry is None and list(miss.requests) == ["One.", "Two."]
    writer = miss.writer(print)
    render(writer, b"\x01\x00", b"\x02\x00")
    writer.close()
    miss.close()
    hit = look_up(store, iter(["One.", "Two."]), OPTIONS, URL)
    assert hit.entry is not None and hit.key == miss.key
    hit.close()


def test_cache_dir_follows_xdg_cache_home(tmp_path: Path) -> None:
    assert config.cache_dir({"XDG_CACHE_HOME": str(tmp_path), "HOME": "/h"}) == tmp_path / "smallest"
    assert config.cache_dir({"XDG_CACHE_HOME": "relative", "HOME": "/h"}) == Path("/h/.cache/smallest")
    assert config.cache_dir({"HOME": "/h"}) == Path("/h/.cache/smallest")


# -- settings ---------------------------------------------------------------------------------------


def test_the_flag_beats_the_config_file() -> None:
    assert resolve_cache({}, {}, {}) is None
    assert resolve_cache({"cache": True}, {}, {}) == 500 * MB
    assert resolve_cache({}, {}, {"cache": "true", "cache_max_mb": "20"}) == 20 * MB
    assert resolve_cache({"cache": False}, {}, {"cache": "true"}) is None
    assert resolve_cache({"cache": True, "cache_max_mb": 3}, {}, {"cache_max_mb": "20"}) == 3 * MB
    with pytest.raises(UsageError, match="--cache-max-mb must be a whole number of MB, 1 or more"):
        resolve_cache({"cache": True, "cache_max_mb": 0}, {}, {})


def test_the_config_file_takes_a_toml_boolean(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("cache = true\ncache_max_mb = 20\n")
    assert config.load_config(path) == {"cache": "true", "cache_max_mb": "20"}
    path.write_text('cache = "False"\n')
    assert config.load_config(path) == {"cache": "false"}
    for text, fragment in [('cache = "maybe"\n', "cache must be true or false, not 'maybe'"),
                           ("cache_max_mb = 0\n", "cache_max_mb must be a whole number of MB"),
                           ("cache_max_mb = true\n", "cache_max_mb must be a string or a number")]:
        path.write_text(text)
        with pytest.raises(UsageError, match=fragment):
            config.load_config(path)


def test_config_set_writes_a_toml_boolean(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert config.set_value("cache", "TRUE", path) == "true"
    config.set_value("cache-max-mb", "64", path)
    config.set_value("voice", "avery", path)  # the boolean survives a rewrite
    assert "cache = true\ncache_max_mb = 64\n" in path.read_text()
    assert config.load_config(path) == {"voice": "avery", "cache": "true", "cache_max_mb": "64"}
