"""Markdown read as a person reads it (`smallest_cli/source/markdown.py`): a corpus of LLM-style
answers with the words written by hand, properties over generated documents and any split into
pieces, bounded memory, when it applies, and end to end through the CLI (`text` on the wire)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smallest_cli.errors import UsageError
from smallest_cli.options.resolve import resolve_markdown
from smallest_cli.source.markdown import CODE_NOTE, MAX_BLOCK_CHARS, MarkdownSpeech, speak_markdown
from smallest_cli.source.markdown import spoken as spoken_words
from tests.helpers import Server, run_cli, wait_until
from tests.test_live_text import cli

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def said(markdown: str, code: str = "note") -> str:
    """The words, with runs of whitespace as one space (where a block ends is not the point here)."""
    return " ".join(speak_markdown(markdown, code).split())


def in_pieces(markdown: str, sizes: list[int], code: str = "note") -> str:
    """The words when the text arrives in pieces of these sizes (cycled)."""
    speech = MarkdownSpeech(code)
    out, start, i = [], 0, 0
    while start < len(markdown):
        size = sizes[i % len(sizes)]
        out.append(speech.feed(markdown[start : start + size]))
        start, i = start + size, i + 1
    return "".join(out) + speech.finish()


# -- the corpus: answers as an LLM writes them, and what a reader says ------------------------------

VENV = """\
## Setting up a virtual environment

Python's **`venv`** module creates an *isolated* environment. Here's how:

1. Create it:

   ```bash
   python -m venv .venv
   ```

2. Activate it with `source .venv/bin/activate`.
3. Install packages with **pip**, e.g. `pip install requests`.

> **Note:** on Windows, run `.venv\\Scripts\\activate` instead.

For more, see the [official docs](https://docs.python.org/3/library/venv.html) or
https://realpython.com/python-virtual-environments-a-primer/.
"""
VENV_WORDS = (
    "Setting up a virtual environment. Python's venv module creates an isolated environment. "
    "Here's how. Create it. {code}Activate it with source .venv/bin/activate. Install packages "
    "with pip, e.g. pip install requests. Note: on Windows, run .venv\\Scripts\\activate instead. "
    "For more, see the official docs or a link to realpython.com."
)

CORPUS = {
    "venv": (VENV, VENV_WORDS.format(code="There is a code block here. ")),
    "table": (
        "Here is a quick comparison:\n\n"
        "| Language | Typing | First release |\n|----------|:------:|--------------:|\n"
        "| Python   | dynamic | 1991 |\n| Rust | static | 2015 |\n\nBoth are *great* choices.\n",
        "Here is a quick comparison. Language: Python, Typing: dynamic, First release: 1991. "
        "Language: Rust, Typing: static, First release: 2015. Both are great choices.",
    ),
    "math and names": (
        "The function `compute_total` multiplies: 2*3*4 = 24, and 2 * 3 = 6.\n"
        "Use snake_case names like user_id in `__init__.py` files.\n"
        "***Very important:*** keep **nested *emphasis* intact**.\n",
        "The function compute_total multiplies: 2*3*4 = 24, and 2 * 3 = 6. Use snake_case names like "
        "user_id in __init__.py files. Very important: keep nested emphasis intact.",
    ),
    "hindi": (
        "## मुख्य बातें\n\n- **पायथन** एक लोकप्रिय भाषा है।\n- इसे सीखना *आसान* है\n"
        "- अधिक जानकारी के लिए [यह लेख](https://hi.wikipedia.org/wiki/पाइथन) पढ़ें।\n",
        "मुख्य बातें। पायथन एक लोकप्रिय भाषा है। इसे सीखना आसान है। अधिक जानकारी के लिए यह लेख पढ़ें।",
    ),
    "japanese": (
        "# 東京の天気\n\n今日は**晴れ**です。明日は雨が降るでしょう\n\n1. 傘を持って行く\n"
        "2. `weather` コマンドで確認する\n",
        "東京の天気。 今日は晴れです。明日は雨が降るでしょう。 傘を持って行く。 weather コマンドで確認する。",
    ),
    "html, images, rules, autolinks, footnotes": (
        "Release Notes\n=============\n\n<details>\n<summary>Internal</summary>\nhidden text\n</details>\n\n"
        "![Screenshot of the new dashboard](img/dash.png)\n\n---\n\n"
        "Thanks to everyone who reported bugs[^1]. Report new ones at <https://github.com/acme/tool/issues>.\n\n"
        "    $ tool --version\n    tool 2.0\n\n[^1]: See the tracker.\n",
        "Release Notes. Screenshot of the new dashboard. Thanks to everyone who reported bugs. Report new "
        "ones at a link to github.com. There is a code block here. See the tracker.",
    ),
    "links": (
        "Check [https://example.com/a/b](https://example.com/a/b) and [the FAQ][faq].\n"
        "_Italic_ and __bold__ words, plus a [link with `code`](https://x.io).\n\n"
        "[faq]: https://example.com/faq\n",
        "Check a link to example.com and the FAQ. Italic and bold words, plus a link with code.",
    ),
    "tasks and nesting": (
        "### Plan\n- [x] Write the parser\n- [ ] Test it\n  - with **unit** tests\n    1. first\n\n"
        "  Then ~~maybe~~ ship.\n",
        "Plan. Write the parser. Test it. with unit tests. first. Then maybe ship.",
    ),
}


@pytest.mark.parametrize("name", CORPUS)
def test_corpus_is_read_as_a_person_reads_it(name: str) -> None:
    markdown, words = CORPUS[name]
    assert said(markdown) == words
    assert " ".join(in_pieces(markdown, [3]).split()) == words


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("note", VENV_WORDS.format(code="There is a code block here. ")),
        ("skip", VENV_WORDS.format(code="")),
        ("read", VENV_WORDS.format(code="python -m venv .venv ")),
    ],
)
def test_code_blocks_are_noted_skipped_or_read(code: str, words: str) -> None:
    assert said(VENV, code) == words


def test_a_br_tag_parts_words_and_other_inline_tags_vanish() -> None:
    assert said("Total: 24.<br>Footnote one<BR />two<br/>three") == "Total: 24. Footnote one two three."
    assert said("Press <kbd>Ctrl</kbd>-C, un<b>bold</b>ly.") == "Press Ctrl-C, unboldly."


def test_blocks_end_as_sentences_where_they_end() -> None:
    assert speak_markdown("# Title\nBody text\n- item one\n- item two:\n") == (
        "Title.\nBody text.\nitem one.\nitem two.\n"
    )


# -- streaming: first sound early, memory flat ----------------------------------------------------


def test_a_finished_sentence_is_given_out_before_its_paragraph_ends() -> None:
    speech = MarkdownSpeech()
    assert speech.feed("The **first** sentence is") == ""
    assert speech.feed(" done. The sec") == "The first sentence is done. "
    assert speech.feed("ond one goes *on. and on") == ""  # `*` may still be closed: wait
    assert speech.feed("*. Done\n\n") == "The second one goes on. and on. Done.\n"


def test_a_code_block_open_for_many_lines_is_not_held() -> None:
    speech = MarkdownSpeech("note")
    assert speech.feed("Before.\n\n```python\n") == "Before. There is a code block here.\n"
    for _ in range(5000):
        assert speech.feed("value = compute(**kwargs)  # a long line of code\n") == ""
        assert speech.held < 80
    assert (speech.feed("```\nAfter.") + speech.finish()).strip() == "After."


def test_code_is_read_as_it_comes() -> None:
    speech = MarkdownSpeech("read")
    assert speech.feed("```\nprint('a')\nprint") == "print('a')\nprint"
    assert speech.feed("('b')\n```\n") == "('b')\n"


# -- front matter ---------------------------------------------------------------------------------

POST = '---\nlayout: post\ntitle: "Hello"\ndate: 2024-01-01\n---\n\n# Hello\n\nThe post.\n'


@pytest.mark.parametrize(
    ("markdown", "words"),
    [
        (POST, "Hello. The post."),
        ('+++\ntitle = "Hello"\n+++\nThe post.\n', "The post."),
        ("---\ntitle: Hello\n\ntags: [a, b]\n\n---\nThe post.\n", "The post."),  # blank lines inside
        ('+++\ntitle = "Hello"\n\ndraft = true\n+++\n\nThe post.', "The post."),
        ("---  \r\ntitle: Hello\r\n--- \r\nThe post.\r\n", "The post."),  # CRLF, spaces after fences
        ("---\ntitle: Hello\n---", ""),  # front matter alone
        ("---\n---\nThe post.\n", "The post."),  # empty
        ("---\nsep: +++\n+++\n---\nThe post.\n", "The post."),  # closed by its own fence only
        # Not front matter: unclosed, not on the first line, or not a fence of three.
        ("---\ntitle: Hello\n\nThe post.\n", "title: Hello. The post."),
        ("Title\n---\nkey: value\n---\n", "Title. key: value."),
        ("\n---\ntitle: Hello\n---\nThe post.\n", "title: Hello. The post."),
        ("----\ntitle: Hello\n----\nThe post.\n", "title: Hello. The post."),
        ("-- a\n---\nThe post.\n", "-- a. The post."),
    ],
)
def test_front_matter_at_the_start_is_not_read(markdown: str, words: str) -> None:
    assert said(markdown) == words
    assert " ".join(in_pieces(markdown, [1]).split()) == words


def test_front_matter_that_does_not_close_soon_is_read_as_markdown() -> None:
    """Memory stays bounded: a fence still open past the cap is no front matter, and its lines are
    read from the first."""
    speech = MarkdownSpeech()
    out = speech.feed("---\n")
    for i in range(1000):
        out += speech.feed(f"key{i}: value\n")
        assert speech.held <= MAX_BLOCK_CHARS + 20
    out += speech.feed("---\nThe post.\n") + speech.finish()
    assert out.split()[:2] == ["key0:", "value"] and out.split()[-2:] == ["The", "post."]
    assert out.count("value") == 1000


def test_a_block_with_no_safe_sentence_end_is_cut_at_the_cap() -> None:
    speech = MarkdownSpeech()
    out = speech.feed("An open `tick starts this. ")
    for _ in range(2000):
        out += speech.feed("More words here. ")
        assert speech.held <= MAX_BLOCK_CHARS
    out += speech.finish()
    assert out.count("More words here.") == 2000


# -- properties -----------------------------------------------------------------------------------

LETTERS = "abcdefgh" + "कखगघ" + "あいうえ"
words_ = st.text(alphabet=LETTERS, min_size=1, max_size=5)
#: Link targets, image sources and code bodies carry Q or Z, which no spoken word has.
INLINE = {
    "plain": "{w}", "em": "*{w}*", "strong": "**{w}**", "under": "_{w}_", "both": "***{w}***",
    "strike": "~~{w}~~", "code": "`{w}`", "link": "[{w}](https://Q.example/Q?q={w})",
    "image": "![{w}](Q/{w}.png)", "nested": "**{w} *{v}***", "snake": "{w}_{v}",
}


@st.composite
def inline(draw: st.DrawFn) -> tuple[str, list[str]]:
    form = draw(st.sampled_from([*INLINE, "url"]))
    if form == "url":
        return draw(st.sampled_from(["https://www.example.net/Q", "<https://example.net/Q>"])), []
    w, v = draw(words_), draw(words_)
    spoken = {"nested": [w, v], "snake": [f"{w}_{v}"]}.get(form, [w])
    return INLINE[form].format(w=w, v=v), spoken


@st.composite
def sentence(draw: st.DrawFn) -> tuple[str, list[str]]:
    parts = draw(st.lists(inline(), min_size=1, max_size=4))
    end = draw(st.sampled_from(["", ".", "!", "?", ":"]))
    return " ".join(p for p, _ in parts) + end, [w for _, ws in parts for w in ws]


@st.composite
def block(draw: st.DrawFn) -> tuple[str, list[str]]:
    kinds = ["para", "quote", "heading", "list", "fence", "table", "rule", "html", "code"]
    kind = draw(st.sampled_from(kinds))
    if kind in ("para", "quote"):
        sentences = draw(st.lists(sentence(), min_size=1, max_size=3))
        text = "".join(s + draw(st.sampled_from([" ", "\n"])) for s, _ in sentences).rstrip()
        if kind == "quote":
            text = "\n".join("> " + line for line in text.split("\n"))
        return text, [w for _, ws in sentences for w in ws]
    if kind == "heading":
        text, spoken = draw(sentence())
        return "#" * draw(st.integers(1, 6)) + " " + text, spoken
    if kind == "list":
        items = draw(st.lists(sentence(), min_size=1, max_size=4))
        markers = draw(st.sampled_from([["-", "  -"], ["1.", "2."]]))
        lines = [f"{markers[i % 2]} {text}" for i, (text, _) in enumerate(items)]
        return "\n".join(lines), [w for _, ws in items for w in ws]
    if kind == "fence":
        body = draw(st.lists(st.sampled_from(["Z = 1", "print(Z)", "", "  **Z**", "# Z"]), max_size=4))
        fence = draw(st.sampled_from(["```", "~~~", "````"]))
        return f"{fence}{draw(st.sampled_from(['', 'py']))}\n" + "\n".join(body) + f"\n{fence}", ["NOTE"]
    if kind == "table":
        header = draw(st.lists(words_, min_size=1, max_size=3))
        rows = draw(st.lists(st.lists(words_, min_size=len(header), max_size=len(header)), max_size=3))
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines), [w for row in rows for pair in zip(header, row, strict=True) for w in pair]
    if kind == "rule":
        return draw(st.sampled_from(["---", "***", "___"])), []
    if kind == "html":
        return "<div>\nZ <b>Z</b>\n</div>", []
    return "    Z = 1\n    Q", ["NOTE"]


@st.composite
def front_matter(draw: st.DrawFn) -> str:
    """Nothing, or YAML or TOML front matter (none of its words said), blank lines and the other
    kind's fence inside."""
    fence = draw(st.sampled_from(["", "---", "+++"]))
    if not fence:
        return ""
    other = "+++" if fence == "---" else "---"
    lines = ["title: Z", 'Z = "Q"', "", "# Z", "- Z", "tags: [Q, Z]", other]
    body = draw(st.lists(st.sampled_from(lines), max_size=5))
    return "\n".join([fence, *body, fence]) + draw(st.sampled_from(["\n", "\n\n"]))


@st.composite
def document(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A document and the words a reader says (NOTE for a code block), maybe after front matter."""
    blocks: list[tuple[str, list[str]]] = []
    for text, spoken in draw(st.lists(block(), min_size=1, max_size=6)):
        before = blocks[-1][0] if blocks else ""
        if text.startswith("    ") and before.startswith(("-", "1.")):
            continue  # indented text after a list item goes on with the item: not a code block
        if text.startswith("    ") and before.startswith("    "):
            spoken = []  # code blocks with only blank lines between them are one
        blocks.append((text, spoken))
    text = draw(front_matter()) + "\n\n".join(t for t, _ in blocks)
    return text, [w for _, ws in blocks for w in ws]


@PROPERTY
@given(document(), st.lists(st.integers(1, 9), min_size=1, max_size=8))
def test_only_the_words_a_reader_says_in_any_pieces(doc: tuple[str, list[str]], sizes: list[int]) -> None:
    """No emphasis mark, backtick, heading hash, link target, URL, pipe or code body reaches the
    output, every word does, in order; the same whole and in any pieces."""
    markdown, spoken = doc
    out = in_pieces(markdown, sizes)
    assert out == speak_markdown(markdown)
    words = out.replace(CODE_NOTE, " NOTE ").replace("a link to example.net", " ")
    assert set(words) <= set(LETTERS) | set(" \n.!?,:。।_NOTE"), markdown
    assert re.findall(r"[^\s.!?,:。।]+", words) == spoken, markdown


@PROPERTY
@given(
    st.sampled_from(["", "---\n", "+++\r\n", "--- \n", "-"]),
    st.text(alphabet="ab .\n*_`#>-|[]()<!1~:=\t\\+2。\r", max_size=200),
    st.lists(st.integers(1, 7), min_size=1, max_size=10),
    st.sampled_from(["note", "skip", "read"]),
)
def test_any_text_reads_the_same_whole_and_in_pieces(
    start: str, text: str, sizes: list[int], code: str
) -> None:
    """Whatever the text, maybe starting as front matter does."""
    text = start + text
    assert in_pieces(text, sizes, code) == speak_markdown(text, code)


# -- when it applies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "config", "expected"),
    [
        ({"file": "notes.md"}, {}, "note"),
        ({"file": "NOTES.Markdown", "code": "read"}, {}, "read"),
        ({"file": "notes.txt"}, {}, None),
        ({"text": "**Hi**"}, {}, None),
        ({}, {}, None),  # stdin
        ({"markdown": True}, {}, "note"),
        ({"markdown": False, "file": "notes.md"}, {}, None),
        ({}, {"markdown": "true"}, "note"),
        ({"file": "notes.md"}, {"markdown": "false"}, None),
        ({"markdown": True}, {"markdown": "false"}, "note"),
    ],
)
def test_markdown_applies_by_flag_config_or_file_name(
    flags: Mapping[str, object], config: Mapping[str, str], expected: str | None
) -> None:
    assert resolve_markdown(flags, {}, config) == expected


def test_the_run_and_its_progress_count_both_read_the_spoken_words(tmp_path: Path) -> None:
    """The progress bar counts the characters sent, so it rereads the file as spoken words too."""
    from smallest_cli.run.synth import _spoken
    from smallest_cli.source.text import TextSource

    notes = tmp_path / "notes.md"
    notes.write_text("# Title\n\n**Bold** words\n", encoding="utf-8")
    text = _spoken(TextSource(None, str(notes), None, sys.stdin).read(), "note")
    assert text.reread is not None
    assert "".join(text.pieces) == "".join(text.reread()) == "Title.\nBold words.\n"


@pytest.mark.parametrize(
    ("markdown", "code", "why"),
    [
        ("```\nrm -rf build\n```\n", "skip", " (its code blocks are skipped: --code skip)"),
        ("<!-- a comment -->\n\n---\n", "note", ""),
    ],
)
def test_markdown_with_nothing_to_say_is_not_called_empty(markdown: str, code: str, why: str) -> None:
    with pytest.raises(UsageError) as caught:
        list(spoken_words(iter(markdown.splitlines(keepends=True)), code))
    assert str(caught.value) == "no text to speak: the Markdown has no words a reader would say" + why
    assert list(spoken_words(iter(["", "\n\n"]), code)) == []  # blank input is left to the empty-input check


def test_an_unknown_code_mode_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--code must be one of note, skip, read"):
        resolve_markdown({"code": "sing", "markdown": True}, {}, {})


# -- end to end: the text the server receives ------------------------------------------------------

NOTES = """\
# Release notes for the **new** tool

The **first** sentence is done. The second uses `parse_config` and reads [the guide](https://example.com/guide).
See https://www.example.org/docs?page=2 for more.

```python
config = parse_config(**options)  # SECRETCODE
```

| Option | Default |
|--------|---------|
| speed  | 1.0     |

- *Fast* start
- नमस्ते दुनिया।
"""
NOTES_WORDS = (
    "Release notes for the new tool. The first sentence is done. The second uses parse_config and "
    "reads the guide. See a link to example.org for more. There is a code block here. Option: speed, "
    "Default: 1.0. Fast start. नमस्ते दुनिया।"
)


def _texts(server: Server, transport: str) -> str:
    entries = requests.get(server.url + "/_smallest/requests", timeout=10).json()["requests"]
    return " ".join(" ".join(e["body"]["text"] for e in entries if e["transport"] == transport).split())


def _clear(server: Server) -> None:
    requests.delete(server.url + "/_smallest/requests", timeout=10)


def test_file_stdin_and_live_send_the_server_the_same_words(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """`-f notes.md` (speak), `--markdown` on stdin (stream-sse) and `--live --markdown` fed three
    characters at a time (stream-ws, whose first sentence goes out before its paragraph ends) send
    the server the words a reader says; the live run's captions are those words too."""
    notes = tmp_path / "notes.md"
    notes.write_text(NOTES, encoding="utf-8")
    sent = {}
    for name, args, data in [
        ("sync", ["speak", "-f", str(notes)], None),
        ("sse", ["stream-sse", "--markdown"], NOTES.encode()),
    ]:
        _clear(server)
        result = run_cli([*args, "-o", str(tmp_path / f"{name}.wav")], env, input=data)
        assert result.returncode == 0, result.stderr.decode()
        sent[name] = _texts(server, name)

    _clear(server)
    captions = tmp_path / "live.json"
    args = ["stream-ws", "--live", "--markdown", "-v", "avery", "--captions", str(captions)]
    with cli([*args, "-o", str(tmp_path / "live.wav")], env) as (proc, _):
        assert proc.stdin is not None
        first_part = NOTES.index("The sec") + len("The sec")
        for start in range(0, len(NOTES), 3):
            proc.stdin.write(NOTES[start : start + 3].encode())
            proc.stdin.flush()
            if start < first_part <= start + 3:
                wait_until(lambda: "sentence is done." in _texts(server, "ws"), timeout=15,
                           message="the first sentence sent before its paragraph ends")
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode() if proc.stderr else ""
    sent["ws"] = _texts(server, "ws")

    assert sent == {"sync": NOTES_WORDS, "sse": NOTES_WORDS, "ws": NOTES_WORDS}
    heard = [w["word"] for w in json.loads(captions.read_text(encoding="utf-8"))["words"]]
    assert heard == NOTES_WORDS.split()


def test_front_matter_is_not_sent_to_the_server(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    """A blog post's YAML front matter (`speak -f`) and TOML front matter (stdin, `--markdown`) are
    not sent: the server receives the post's words only."""
    post = tmp_path / "post.md"
    post.write_text(POST, encoding="utf-8")
    toml = '+++\r\ntitle = "Hello"\r\n\r\ndate = 2024-01-01\r\n+++\r\n# Hello\r\n\r\nThe post.\r\n'
    for name, args, data in [
        ("sync", ["speak", "-f", str(post)], None),
        ("sse", ["stream-sse", "--markdown"], toml.encode()),
    ]:
        _clear(server)
        result = run_cli([*args, "-o", str(tmp_path / f"{name}.wav")], env, input=data)
        assert result.returncode == 0, result.stderr.decode()
        assert _texts(server, name) == "Hello. The post."


@pytest.mark.parametrize("command", ["speak", "stream-ws"])
def test_a_file_of_code_alone_with_code_skip_says_so(
    command: str, env: dict[str, str], tmp_path: Path
) -> None:
    notes = tmp_path / "code.md"
    notes.write_text("```sh\nmake all\n```\n", encoding="utf-8")
    result = run_cli([command, "-f", str(notes), "--code", "skip", "-o", str(tmp_path / "x.wav")], env)
    assert result.returncode == 2
    assert result.stderr.decode().strip() == (
        "smallest: error: no text to speak: the Markdown has no words a reader would say "
        "(its code blocks are skipped: --code skip)"
    )
    assert not list(tmp_path.glob("x.wav*"))
