"""`smallest batch INPUT`: its help, examples and options; the body is `run.batch.run_batch`."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from smallest_cli.commands.common import with_options
from smallest_cli.errors import EXIT_CODES_HELP
from smallest_cli.options.parse import Args

if TYPE_CHECKING:
    import typer

SUMMARY = "Synthesize many texts into files: resumable, sharded, several at once."

HELP = f"""{SUMMARY}

INPUT is a .jsonl file (one object per line: text, and any of output, id, voice, model, speed,
language, sample_rate, format), a .csv or .tsv file (a header row naming those columns), a
directory (one row per .txt, .md or .markdown file, in name order, each file one row however
long, read as Markdown when it is one, its output named after it: chapter-01.md gives
chapter-01.wav), '-' (a text per line of stdin) or any other file (a text per non-empty line).
The options below are every row's defaults; a row's fields override them.

Each row's file is written under the output directory as FILE.part.PID and renamed when whole,
and gets a record in the manifest (its status, error, audio seconds, bytes, sha256, request id
and settings). A rerun skips the rows whose file is still the one recorded with the same
settings, so a stopped batch goes on where it stopped. A row that fails (empty text, a bad
value, a request the server refuses) is recorded and the others go on: exit 7. An
authentication or network failure stops the batch at once.

Examples:

  smallest batch prompts.txt --out-dir prompts --concurrency 4

  smallest batch lines.jsonl --out-dir out --name '{{id}}.mp3' -v avery

  smallest batch chapters/ --out-dir audiobook --transport sse

  smallest batch corpus.csv --out-dir out --shard 2/8 --manifest out/2.jsonl

  seq 1 5 | sed 's/^/Prompt number /' | smallest batch - --out-dir numbers

Settings: flag > environment (SMALLEST_API_KEY, SMALLEST_BASE_URL, SMALLEST_VOICE) > config file
(smallest config) > default.

{EXIT_CODES_HELP}
"""


def _input_argument() -> inspect.Parameter:
    import typer

    info = typer.Argument(
        ..., metavar="INPUT", help="A .jsonl, .csv or .tsv file, a directory, '-' or a file of lines.",
        show_default=False,
    )
    return inspect.Parameter("input", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=info, annotation=str)


def register(app: typer.Typer) -> None:
    def body(args: Args) -> None:
        from smallest_cli.run.batch import run_batch

        run_batch(args)

    command = with_options("batch", body, [_input_argument()])
    app.command("batch", help=HELP, short_help=SUMMARY)(command)
