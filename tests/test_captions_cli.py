"""`--captions FILE` end to end: stream-ws over several segments writes SRT, WebVTT and
JSON that standard parsers accept, on one increasing timeline, with the input's words; the live
display's highlighted word follows the playback clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import srt  # independent parsers of what the CLI writes: dev dependencies, never skipped
import webvtt

from smallest_cli.events import WordTimestamp
from smallest_cli.output.captions import CaptionFile
from smallest_cli.output.karaoke import WordTrack
from smallest_cli.protocol.segment import segment_text
from tests.helpers import Server, run_cli
from tests.test_cli_support import reference


@pytest.fixture(params=["close-after-complete", "keep-open"])
def server(request: pytest.FixtureRequest, server: Server, keep_open_server: Server) -> Server:
    """Each test against a server that closes the WebSocket after `complete` (the reference) and
    against one that keeps it open (an older page): the CLI must work with both."""
    return server if request.param == "close-after-complete" else keep_open_server


TEXT = " ".join(
    f"Caption sentence {word} tells a short story, with a pause here and there." for word in
    ("one", "two", "three", "four", "five", "six", "seven", "eight")
)


def _run(env: dict[str, str], tmp_path: Path, name: str, *extra: str) -> Path:
    captions = tmp_path / name
    out = tmp_path / "a.pcm"
    args = ["stream-ws", TEXT, "-v", "avery", "-o", str(out), "--captions", str(captions), *extra]
    result = run_cli(args, env)
    assert result.returncode == 0, result.stderr.decode()
    assert not (tmp_path / (name + ".part")).exists()
    return captions


def test_text_is_several_segments() -> None:
    assert len(segment_text(TEXT)) >= 3


def test_srt_parses_with_increasing_times_and_the_input_words(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    path = _run(env, tmp_path, "c.srt")
    subs = list(srt.parse(path.read_text(encoding="utf-8")))
    assert len(subs) >= 8
    assert " ".join(s.content.replace("\n", " ") for s in subs).split() == TEXT.split()
    for a, b in zip(subs, subs[1:], strict=False):
        assert a.start < a.end <= b.start
    audio_s = len(reference(server, segment_text(TEXT)[0], "pcm", voice="avery")) / 48000
    assert subs[-1].start.total_seconds() > audio_s  # later segments are offset past the first's audio


def test_webvtt_parses_and_json_holds_every_word(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    vtt = _run(env, tmp_path, "c.vtt")
    cues = list(webvtt.read(str(vtt)))
    assert " ".join(c.text.replace("\n", " ") for c in cues).split() == TEXT.split()
    starts = [c.start_in_seconds for c in cues]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)

    doc = json.loads(_run(env, tmp_path, "c.json").read_text(encoding="utf-8"))
    words = doc["words"]
    assert [w["word"] for w in words] == TEXT.split()
    assert all(a["end"] <= b["start"] for a, b in zip(words, words[1:], strict=False))
    # One timeline, one count: ids run on across segments as the times do.
    assert [w["id"] for w in words] == list(range(len(words)))
    assert [c["text"].replace("\n", " ") for c in doc["cues"]] == [c.text.replace("\n", " ") for c in cues]


HEADED = (
    "# Savings\n\nMoney is kept in a safe place. "
    "Most people keep the money they save each month, bit by bit, safely in bank."
)


def test_cues_break_at_headings_and_sentence_ends_without_short_tails(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    captions = tmp_path / "c.srt"
    args = ["stream-ws", HEADED, "-v", "avery", "-o", str(tmp_path / "a.wav"), "--captions", str(captions)]
    result = run_cli(args, env)
    assert result.returncode == 0, result.stderr.decode()
    subs = list(srt.parse(captions.read_text(encoding="utf-8")))
    # The heading stands alone; the long sentence is cut at its comma, not before a tail `bank.`
    # shown for 0.7 s.
    assert [s.content.replace("\n", " ") for s in subs] == [
        "# Savings",
        "Money is kept in a safe place.",
        "Most people keep the money they save each month,",
        "bit by bit, safely in bank.",
    ]
    for sub in subs[1:]:  # (a heading is as short as it is)
        assert len(sub.content.split()) > 2 or (sub.end - sub.start).total_seconds() >= 1.0, sub


def test_json_stats_hold_the_captions_words(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    """--captions implies word timings: --json lists them, rounded to the millisecond."""
    result = run_cli(["stream-ws", TEXT, "-v", "avery", "-o", str(tmp_path / "a.wav"),
                      "--captions", str(tmp_path / "a.srt"), "--json"], env)
    assert result.returncode == 0, result.stderr.decode()
    words = json.loads(result.stdout)["words"]
    assert [w["word"] for w in words] == TEXT.split()
    assert [w["id"] for w in words] == list(range(len(words)))
    assert all(round(w["start"], 3) == w["start"] and round(w["end"], 3) == w["end"] for w in words)


def test_captions_are_listed_only_where_they_work(env: dict[str, str]) -> None:
    for command, listed in (("speak", False), ("stream-sse", False), ("stream-ws", True)):
        result = run_cli([command, "--help"], env)
        assert result.returncode == 0
        assert (b"--captions" in result.stdout) is listed, command


def test_captions_need_word_timestamps(env: dict[str, str], tmp_path: Path) -> None:
    for command in ("speak", "stream-sse"):
        result = run_cli([command, "Hello.", "-o", "-", "--captions", str(tmp_path / "c.srt")], env)
        assert result.returncode == 2
        assert b"stream-ws" in result.stderr and b"Traceback" not in result.stderr
    result = run_cli(["stream-ws", "Hello.", "-o", "-", "--captions", str(tmp_path / "c.txt")], env)
    assert result.returncode == 2 and b".srt" in result.stderr


def _requests_sent(server: Server) -> int:
    return int(requests.get(server.url + "/_smallest/requests", timeout=10).json()["counters"]["requests"])


def test_captions_with_a_voice_without_word_timestamps_exit_2(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """The default voice (magnus) sends no word timings: refused before any request, no file."""
    before = _requests_sent(server)
    args = ["stream-ws", "Hello.", "-o", str(tmp_path / "a.pcm"), "--captions", str(tmp_path / "c.srt")]
    result = run_cli(args, env)
    assert result.returncode == 2
    line = result.stderr.decode().strip()
    assert line.startswith("smallest: error: --captions needs word timestamps, which voice 'magnus'")
    assert "avery" in line and "\n" not in line
    assert list(tmp_path.iterdir()) == [] and _requests_sent(server) == before


def test_word_timestamps_with_a_voice_without_them_warns(env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(["stream-ws", "Hello.", "--word-timestamps", "-o", str(tmp_path / "a.pcm")], env)
    assert result.returncode == 0, result.stderr.decode()
    warnings = [x for x in result.stderr.decode().splitlines() if x.startswith("smallest: warning:")]
    assert warnings == [
        "smallest: warning: voice 'magnus' sends no word timestamps; "
        "voices that do: avery, devansh, kartik, liam, maithili, meher"
    ]


@pytest.mark.parametrize("name", ["c.srt", "c.vtt", "c.json"])
def test_no_words_leave_no_caption_file(name: str, tmp_path: Path) -> None:
    warned: list[str] = []
    captions = CaptionFile(tmp_path / name, warn=warned.append)
    captions.close()
    assert list(tmp_path.iterdir()) == []
    assert warned == [f"smallest: warning: no word timestamps arrived; {tmp_path / name} was not written"]
    assert CaptionFile(tmp_path / name).abort() is None and list(tmp_path.iterdir()) == []


def test_live_display_highlights_the_word_being_heard() -> None:
    track = WordTrack()
    words = "Hello there. How are you today?".split()
    for i, w in enumerate(words):
        track.add(WordTimestamp(i, w, i * 0.5, i * 0.5 + 0.4))
    assert track.line(-0.1) is None
    line = track.line(1.1)  # "How" is heard
    assert line is not None and line.plain == "How are you today?"
    bold = [line.plain[s.start : s.end] for s in line.spans if "reverse" in str(s.style)]
    assert bold == ["How"]
    line = track.line(0.3)
    assert line is not None and line.plain == "Hello there."
    assert [line.plain[s.start : s.end] for s in line.spans if "reverse" in str(s.style)] == ["Hello"]


def test_live_display_sentence_runs_past_abbreviations() -> None:
    track = WordTrack()
    for i, w in enumerate("Dr. Smith arrived. Mr. Jones left.".split()):
        track.add(WordTimestamp(i, w, i * 0.5, i * 0.5 + 0.4))
    line = track.line(0.1)
    assert line is not None and line.plain == "Dr. Smith arrived."
    line = track.line(2.1)
    assert line is not None and line.plain == "Mr. Jones left."
