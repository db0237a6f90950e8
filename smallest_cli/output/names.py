"""The file names of a batch's rows: `--name` templates, the text's slug, and the output directory
they must stay inside. Pure: no file is touched here (output/plan.py checks the path itself)."""

from __future__ import annotations

import re
import string
import unicodedata
from pathlib import Path, PurePath

from smallest_cli.errors import UsageError

#: The fields a template may name.
TEMPLATE_FIELDS: tuple[str, ...] = ("n", "id", "voice", "slug")
#: The longest slug, in characters.
SLUG_CHARS = 40
#: The slug of a text with no letter or digit of the Latin alphabet (after removing accents).
EMPTY_SLUG = "untitled"


def check_template(template: str, what: str) -> str:
    """`template` when it names only TEMPLATE_FIELDS, plainly (no attributes, no indexes), and each
    format spec fits its field; else UsageError naming `what` (the option)."""
    fields = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
        bad = next((name for name in names if name not in TEMPLATE_FIELDS), None)
        if bad is not None:
            raise UsageError(f"{what} may name {fields}, not {{{bad}}}")
        render(template, 1, "id", "voice", "text")
    except (ValueError, TypeError) as err:
        raise UsageError(f"{what} {template!r} is not a template of {fields}: {err}") from None
    return template


def render(template: str, n: int, id_: str | None, voice: str, text: str) -> str:
    """A row's name from a checked template; {id} is the row's number when it has none."""
    return template.format(n=n, id=id_ if id_ else str(n), voice=voice, slug=slug(text))


def slug(text: str, limit: int = SLUG_CHARS) -> str:
    """The text's first words as lower-case ASCII letters and digits joined by `-`, at most `limit`
    characters, cut between words where one fits (`Hello, World!` → `hello-world`)."""
    ascii_text = unicodedata.normalize("NFKD", text[: limit * 8]).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    out = ""
    for word in words:
        joined = f"{out}-{word}" if out else word
        if len(joined) > limit:
            return out or word[:limit]
        out = joined
    return out or EMPTY_SLUG


def output_path(out_dir: Path, name: str, fmt: str) -> Path:
    """Where a row named `name` goes: under `out_dir`, never outside it (an absolute name or `..` is
    refused, and so is a NUL, which no file name holds), with `.fmt` added when the name has no
    extension."""
    relative = PurePath(name)
    if (
        not name.strip() or "\0" in name or not relative.name or relative.is_absolute()
        or ".." in relative.parts
    ):
        raise UsageError(f"output {name!r} is not a file name under the output directory")
    if not relative.suffix:
        relative = relative.with_name(f"{relative.name}.{fmt}")
    return out_dir / relative
