"""The user's config file: `$XDG_CONFIG_HOME/smallest/config.toml` (default `~/.config/smallest/`).

A flat TOML table of a few scalar keys. Reading validates every key and value, so a typo in the
file is reported once, with the file's path, instead of surfacing later as a server error.
Writing is atomic (temp file + rename) and the file is created with mode 0600 from the start,
because it may hold the API key.

Resolution order (applied by the commands, not here): flag > environment > config file > default.
"""

from __future__ import annotations

import os
import sys

from smallest_cli.errors import UsageError, guarded
from smallest_cli.options.table import BY_FIELD, OPTIONS

# math, re, stat, contextlib and pathlib are imported where they are used: the synthesis
# commands read this file before their first connection's SYN (`run.early`, startup.py).
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (startup.py)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from contextlib import AbstractContextManager
    from pathlib import Path
    from typing import Any

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

APP_DIR = "smallest"
FILE_NAME = "config.toml"
FILE_MODE = 0o600
DIR_MODE = 0o700
#: The first line of a file that `config set` creates.
HEADER = "# smallest configuration; edit with `smallest config set KEY VALUE`."

# Patterns, compiled (and cached by `re`) when first used: the synthesis commands load the config
# before their first request, usually with no file or no such key to check.
_LINE_RE = r"\(at line (\d+), column (\d+)\)"
#: The keys checked as a request's values are, by their check in protocol.request (imported when
#: a file holds one: the synthesis commands read the file before their first connection starts).
_CHECKS: Mapping[str, str] = {
    "sample_rate": "check_sample_rate", "speed": "check_speed", "model": "check_model",
    "language": "check_language", "voice": "check_voice",
}


#: (key, its description) for help, of every option the table lets the file set.
KEY_HELP: tuple[tuple[str, str], ...] = tuple((o.field, o.config) for o in OPTIONS if o.config is not None)

#: Keys in the order they are written and listed.
KEYS: tuple[str, ...] = tuple(name for name, _ in KEY_HELP)
#: Keys written as TOML numbers rather than strings.
NUMERIC_KEYS: frozenset[str] = frozenset(o.field for o in OPTIONS if o.config and o.kind in ("int", "float"))
#: Keys written as TOML booleans (an on/off switch's setting), "true" or "false" as text.
BOOLEAN_KEYS: frozenset[str] = frozenset(o.field for o in OPTIONS if o.config and o.kind == "switch")
_BOOLEANS: Mapping[str, str] = {
    **dict.fromkeys(("true", "yes", "on", "1"), "true"),
    **dict.fromkeys(("false", "no", "off", "0"), "false"),
}
#: Keys whose value is a secret and is shown redacted.
SECRET_KEYS: frozenset[str] = frozenset({"api_key"})
#: The environment variable that overrides a key, where there is one.
ENV_OVERRIDES: Mapping[str, str] = {o.field: o.env for o in OPTIONS if o.config and o.env is not None}


def _app_dir(env: Mapping[str, str] | None, variable: str, under_home: str) -> str:
    """`$variable/smallest`, else `~/under_home/smallest`; a relative value of the variable is
    ignored, as the XDG spec says."""
    environ = os.environ if env is None else env
    xdg = environ.get(variable, "")
    if xdg and os.path.isabs(xdg):
        return _tidy(os.path.join(xdg, APP_DIR))
    home = environ.get("HOME") or os.path.expanduser("~")
    return _tidy(os.path.join(home, under_home, APP_DIR))


def _tidy(path: str) -> str:
    """`path` as pathlib writes it (`config path` prints a Path): doubled slashes and `.` parts
    dropped. A path with `..` is left as it is, as pathlib leaves those."""
    return path if ".." in path.split(os.sep) else os.path.normpath(path)


def _config_file(env: Mapping[str, str] | None = None) -> str:
    return os.path.join(_app_dir(env, "XDG_CONFIG_HOME", ".config"), FILE_NAME)


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the config file lives (it may not exist yet)."""
    from pathlib import Path

    return Path(_config_file(env))


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the audio cache lives (`output.cache`): `$XDG_CACHE_HOME/smallest`, else
    `~/.cache/smallest`."""
    from pathlib import Path

    return Path(_app_dir(env, "XDG_CACHE_HOME", ".cache"))


def normalize_key(key: str) -> str:
    """`sample-rate` → `sample_rate`; unknown names are a UsageError listing the known ones."""
    name = key.strip().lower().replace("-", "_")
    if name not in KEYS:
        raise UsageError(f"unknown config key {key!r}; known keys: {', '.join(KEYS)}")
    return name


def _no_control(key: str, value: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise UsageError(f"{key} must not contain control characters")


def validate_value(key: str, value: str) -> str:
    """Check `value` for `key` (an already-normalized key); return its canonical string form."""
    raw = value.strip()
    if not raw:
        raise UsageError(f"{key} must not be empty")
    _no_control(key, raw)
    if key in _CHECKS:
        from smallest_cli.protocol import request

        check: Callable[[str], object] = getattr(request, _CHECKS[key])
        checked = check(raw)  # the same checks as the flags'
        return repr(checked) if isinstance(checked, float) else str(checked)
    if key in BOOLEAN_KEYS:
        if raw.lower() not in _BOOLEANS:
            raise UsageError(f"{key} must be true or false, not {raw!r}")
        return _BOOLEANS[raw.lower()]
    if key == "cache_max_mb":
        return str(check_cache_max_mb(raw))
    if key == "base_url":
        return _validate_base_url(raw)
    if key == "api_key":
        from smallest_cli.options.security import check_api_key

        return check_api_key(raw, key)
    raise UsageError(f"unknown config key {key!r}; known keys: {', '.join(KEYS)}")


def check_cache_max_mb(value: int | str, what: str = "cache_max_mb") -> int:
    """The audio cache's size cap in MB: a whole number, 1 or more (the flag's and the file's check)."""
    try:
        mb = int(value)
    except ValueError:
        mb = 0
    if mb < 1:
        raise UsageError(f"{what} must be a whole number of MB, 1 or more, not {value!r}")
    return mb


def _validate_base_url(raw: str) -> str:
    from smallest_cli.options.security import check_base_url  # the one base-URL check the commands use too

    url = raw.rstrip("/")
    try:
        check_base_url(url)
    except UsageError:
        raise UsageError(f"base_url must look like https://host[:port], not {raw!r}") from None
    return url


def _check_stored_base_url(url: str) -> None:
    """The run-time check of where the key may go, as a run without --allow-insecure makes it (the
    file cannot hold that flag), so a value `config set` stores is one every run accepts. Not
    applied when the file is read: a run given --allow-insecure may use such a file."""
    from smallest_cli.options.security import INSECURE_CONFIG_HINT, check_key_transport

    check_key_transport(url, hint=INSECURE_CONFIG_HINT)


#: How to get out of a file that cannot be parsed: no command edits it (that would lose what it holds).
UNPARSABLE_HINT = "fix it in a text editor (`smallest config path` names it), or remove it to start afresh"


def _parse_error(path: Path | str, err: tomllib.TOMLDecodeError) -> UsageError:
    import re

    text = str(err)
    m = re.search(_LINE_RE, text)
    if m:
        reason = text[: m.start()].strip()
        return UsageError(f"cannot parse config file {path}, line {m.group(1)}: {reason}; {UNPARSABLE_HINT}")
    return UsageError(f"cannot parse config file {path}: {text}; {UNPARSABLE_HINT}")


def _tomllib() -> Any:
    """tomllib (tomli before 3.11), imported only when there is a file to parse."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    return tomllib


def _read_text(path: Path | str) -> str | None:
    """The file's text, or None when there is no file."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise UsageError(f"config file {path} is a directory") from None
    except OSError as err:
        raise UsageError(f"cannot read config file {path}: {err.strerror or err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"cannot parse config file {path}: not UTF-8 text; {UNPARSABLE_HINT}") from None


def _parse(path: Path | str, text: str) -> dict[str, object]:
    flat = flat_table(text)
    if flat is not None:
        return flat
    toml = _tomllib()
    try:
        return toml.loads(text)
    except toml.TOMLDecodeError as err:
        raise _parse_error(path, err) from None


_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def flat_table(text: str) -> dict[str, object] | None:
    """`text` read as TOML without tomllib, when every line is blank, a comment, or `key = value`
    with a bare key and a plain value (a string without escapes, a decimal integer or float,
    true or false): what `config set` writes. None for anything else, which tomllib reads (and
    reports). tomllib, with re, datetime and typing, costs about 20 ms in a fresh process, before
    the early dial's SYN (startup.py, 5.); tests check the two readings agree."""
    table: dict[str, object] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        if any(c < " " and c != "\t" or c == "\x7f" for c in line):
            return None
        body = line.strip(" \t")
        if not body or body.startswith("#"):
            continue
        key, equals, rest = body.partition("=")
        key = key.rstrip(" \t")
        value = _flat_value(rest.lstrip(" \t"))
        if not equals or not key or not _BARE_KEY.issuperset(key) or key in table or value is None:
            return None
        table[key] = value
    return table


def _flat_value(text: str) -> object | None:
    """A plain TOML value and nothing after it but a comment; None for anything else."""
    value: object | None
    if text.startswith('"'):
        end = text.find('"', 1)
        if end < 0 or "\\" in text[1:end]:
            return None  # unclosed, or with escapes
        value, tail = text[1:end], text[end + 1 :]
    else:
        cut = min((i for i in (text.find(" "), text.find("\t"), text.find("#")) if i >= 0), default=len(text))
        token, tail = text[:cut], text[cut:]
        value = {"true": True, "false": False}.get(token, _flat_number(token))
    tail = tail.lstrip(" \t")
    return value if not tail or tail.startswith("#") else None


def _flat_number(token: str) -> int | float | None:
    """`-12`, `0`, `1.25`: TOML's decimal integers and floats without exponent or underscores."""
    whole, dot, fraction = token.removeprefix("-").partition(".")
    if not (whole.isascii() and whole.isdigit()) or len(whole) > 1 and whole.startswith("0"):
        return None
    if not dot:
        return int(token)
    return float(token) if fraction.isascii() and fraction.isdigit() else None


def _read_table(path: Path | str) -> dict[str, object] | None:
    """The raw TOML table, or None when there is no file."""
    text = _read_text(path)
    return None if text is None else _parse(path, text)


def _to_text(path: Path | str, key: str, value: object) -> str:
    if isinstance(value, bool) and key in BOOLEAN_KEYS:
        return str(value).lower()
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UsageError(f"config file {path}: {key} must be a string or a number")
    if isinstance(value, float) and key != "speed":
        raise UsageError(f"config file {path}: {key} must be a string or a whole number")
    return value if isinstance(value, str) else str(value)


def load_config(path: Path | None = None) -> dict[str, str]:
    """The validated settings in the config file, as canonical strings; {} when there is no file.

    Raises UsageError, naming the path (and line, for syntax errors), for an unreadable or
    unparsable file, an unknown key, or a bad value.
    """
    where = _config_file() if path is None else path
    table = _read_table(where)
    if table is None:
        return {}
    return _validated(where, table)


def load_config_unchecked() -> dict[str, str]:
    """The file's known keys as text, unchecked ({} when there is no file), for the early dial
    (`run.early`), which only needs where the connection goes: the checks of voice, model, key
    and URL import what the SYN should not wait for (protocol.request, options.security). The
    run reads the file again with every check. UsageError for a file that cannot be read or
    parsed, or a value of the wrong type."""
    path = _config_file()
    table = _read_table(path)
    if table is None:
        return {}
    out = {}
    for key, value in table.items():
        if key in KEYS:
            text = _to_text(path, key, value)
            out[key] = _BOOLEANS.get(text.lower(), text) if key in BOOLEAN_KEYS else text
    return out


def _validated(path: Path | str, table: Mapping[str, object]) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw_key, value in table.items():
        if raw_key not in KEYS:
            raise UsageError(f"config file {path}: unknown key {raw_key!r}; known keys: {', '.join(KEYS)}")
        try:
            out[raw_key] = validate_value(raw_key, _to_text(path, raw_key, value))
        except UsageError as err:
            if str(path) in err.message:
                raise
            raise UsageError(f"config file {path}: {err.message}") from None
    return {k: out[k] for k in KEYS if k in out}


def guarded_with_config(args: Mapping[str, Any]) -> AbstractContextManager[dict[str, str]]:
    """The config file's settings, with the command run under the error guard (`errors.guarded`),
    every key the run may use (flag, environment, config file) kept out of what the guard prints."""
    from contextlib import contextmanager

    return contextmanager(_guard_with_config)(args)


def _guard_with_config(args: Mapping[str, Any]) -> Iterator[dict[str, str]]:
    debug = bool(args.get("debug"))
    env = BY_FIELD["api_key"].env
    secrets = tuple(k for k in (args.get("api_key"), os.environ.get(env) if env else None) if k)
    with guarded(debug, secrets=secrets):
        config = load_config()
        with guarded(debug, secrets=(*secrets, config.get("api_key", ""))):
            yield config


def permission_warning(path: Path | None = None) -> str | None:
    """A warning when the file holds api_key and group or others may access it; else None."""
    path = config_path() if path is None else path
    if os.name == "nt":
        return None
    import stat

    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    try:
        table = _read_table(path)
    except UsageError:
        return None
    if not table or "api_key" not in table:
        return None
    return f"smallest: warning: {path} is readable by other users (mode {mode:04o}); run: chmod 600 {path}"


# --- writing ---------------------------------------------------------------------------------


def toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 32 or code == 127:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _is_number(text: str) -> bool:
    import math

    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _toml_key(key: str) -> str:
    import re

    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def _toml_value(key: str, value: str) -> str:
    """A canonical value as TOML: a number or boolean bare where the key takes one, else a string."""
    number = key in NUMERIC_KEYS and _is_number(value)
    bare = number or (key in BOOLEAN_KEYS and value in ("true", "false"))
    return value if bare else toml_string(value)


def render(values: Mapping[str, str]) -> str:
    """The file's text for `values` (canonical strings): a header and one `key = value` per line."""
    lines = [HEADER, ""]
    ordered = [k for k in KEYS if k in values] + sorted(k for k in values if k not in KEYS)
    lines.extend(f"{_toml_key(key)} = {_toml_value(key, values[key])}" for key in ordered)
    return "\n".join(lines) + "\n"


def _write_target(path: Path) -> Path:
    """Follow a symlinked config file (dotfile managers) so the link itself survives the rename."""
    return path.resolve() if path.is_symlink() else path


def _ensure_dir(directory: Path) -> None:
    if directory.is_dir():
        return
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(directory, DIR_MODE)
    except FileExistsError:
        if not directory.is_dir():
            raise UsageError(f"cannot create config directory {directory}: a file is in the way") from None
    except OSError as err:
        raise UsageError(f"cannot create config directory {directory}: {err.strerror or err}") from None


def _open_new(tmp: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(tmp, flags, FILE_MODE)
    except FileExistsError:
        # A leftover from a crashed writer that had our pid: remove it and try once more.
        tmp.unlink(missing_ok=True)
        return os.open(tmp, flags, FILE_MODE)


def write_config(values: Mapping[str, str], path: Path | None = None) -> Path:
    """Replace the file with `values` atomically; the file is 0600 from creation. Returns the path."""
    path = config_path() if path is None else path
    _write_text(path, render(values))
    return path


def _write_text(path: Path, text: str) -> None:
    """Replace the file with `text` atomically (temp file + rename); the file is 0600 from creation."""
    target = _write_target(path)
    _ensure_dir(target.parent)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    data = text.encode("utf-8")
    try:
        fd = _open_new(tmp)
    except OSError as err:
        raise UsageError(f"cannot write config file {target}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write config file {target}: {err.strerror or err}") from None
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_for_update(path: Path, text: str) -> None:
    """Refuse a file whose values are not all scalars; the values themselves are not validated, so
    a bad value can be fixed with set or unset."""
    for key, value in _parse(path, text).items():
        if isinstance(value, bool) and key in BOOLEAN_KEYS:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise UsageError(f"config file {path}: {key} is not a string or a number; edit the file by hand")


def _edited(path: Path, edit: Callable[[str], str | None]) -> str | None:
    """The file's text (empty when there is no file) after `edit` (None: nothing to change). A file
    the line editor cannot change safely is refused: rewriting it would lose what the user wrote."""
    from smallest_cli.options import config_edit

    text = _read_text(path) or ""
    _check_for_update(path, text)
    try:
        return edit(text)
    except config_edit.Uneditable as err:
        raise UsageError(f"config file {path}: cannot change it safely ({err}); edit it by hand") from None


def set_value(key: str, value: str, path: Path | None = None) -> str:
    """Validate and store one key, changing only its line; returns the canonical value stored."""
    path = config_path() if path is None else path
    name = normalize_key(key)
    canonical = validate_value(name, value)
    if name == "base_url":
        _check_stored_base_url(canonical)
    toml_value = _toml_value(name, canonical)

    def edit(text: str) -> str | None:
        from smallest_cli.options.config_edit import set_line

        return set_line(text, name, toml_value) if text.strip() else None

    text = _edited(path, edit)
    _write_text(path, render({name: canonical}) if text is None else text)
    return canonical


def unset_value(key: str, path: Path | None = None) -> bool:
    """Remove one key's line; returns False (and writes nothing) when it was not set.

    A key the file holds but this version does not know can be removed too (typo repair).
    """
    path = config_path() if path is None else path

    def edit(text: str) -> str | None:
        from smallest_cli.options.config_edit import keys_in, unset_line

        name = key if key in keys_in(text) else normalize_key(key)
        return unset_line(text, name)

    text = _edited(path, edit)
    if text is None:
        return False
    _write_text(path, text)
    return True


def get_value(key: str, path: Path | None = None) -> str | None:
    """One key's value from the file, or None when it is not set."""
    return load_config(path).get(normalize_key(key))
