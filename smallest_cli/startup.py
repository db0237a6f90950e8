"""Start-up tricks: every way `smallest` bends a library or the interpreter to reach its first
audio byte sooner, in one place.

Each stays only while `make bench` shows it saves at least 3 ms to first audio
(docs/benchmark.md, "Start-up tricks"), and each has a test in tests/test_startup.py that fails
when it stops applying (after a library upgrade, say), so that a dead trick is removed, not kept.

1. `collector_paused()`: the cyclic garbage collector is off while a synthesis command sets up.
   Set-up makes thousands of long-lived objects (modules, classes, settings) and no garbage; the
   collector's passes over them cost milliseconds before the first byte. `streaming_starts()` is
   called when set-up is over: it freezes what set-up made (so later collections skip it: it lives
   as long as the process anyway) and turns the collector back on.
2. `seed_websockets_version()`: websockets' `version.py` imports `importlib.metadata` at the top,
   but uses it only in development checkouts (`released = False`). For a release, the same module
   is built here from the literal values in that file; otherwise websockets imports as usual.
3. `defer_urllib_request()`: `websockets.sync.client` imports `websockets.proxy`, which imports
   `urllib.request` (and with it http.client, email, tempfile, shutil, bz2, lzma, ...) at the top,
   but uses it only to look up a proxy inside `connect()`. The upgrade over the early-dialled
   socket never calls it, so the chain would load between the SYN and the upgrade for nothing. It
   is registered as a stand-in that imports the module on its first use. (Not `LazyLoader`:
   an `import` statement of a module it registered loads it at once, as the import system reads
   the module's `__spec__`.) Only for `stream-ws` with an early dial, the one run it helps; on
   macOS and Windows the dial's proxy check has imported urllib.request already.
4. The early dial (`transports/dial.py`) starts its thread with `_thread` before `threading` is
   imported, and the thread sends the SYN with `_socket` before importing `socket`. The main
   thread imports threading as the SYN goes out; the dial's thread waits for that before anything
   else, as before Python 3.13 the thread that imports threading first stays its main thread.
5. `options.config.flat_table`: the config file is read without tomllib when every line is one
   that `config set` writes (blank, a comment, `key = value` with a plain value); anything else
   goes to tomllib, which reports what is wrong. tomllib (with re, datetime, string and typing)
   costs about 20 ms in a fresh process, and most users have a config file, which the early
   dial reads before its SYN. Tests check the two readings agree on every file the flat reader
   takes, and that the early dial reads the file `config set` writes without importing tomllib.

Not a trick but a rule, which tests/test_startup.py checks (`NOT_BEFORE_THE_SYN`): the modules read
before the early dial's SYN (`__main__`, this one, the signal handlers, the option table and
parser, the config file's reader and layers, `errors`, `run.early`, the dial) import no standard
module that a fresh interpreter has not loaded already. In a fresh process typing, re, pathlib,
contextlib, enum and urllib.parse cost 15 to 20 ms together, every one of them before the SYN.
So these modules take their annotations' names under `TYPE_CHECKING = False` (typing's own
constant is in typing), use `_signal` for `signal`, and import anything else inside the function
that uses it. A development install hides the cost: setuptools' editable finder imports most of
those modules at every start (`make bench` runs its clients in a virtualenv laid out as a user's
install for that reason).
"""

from __future__ import annotations

import _thread
import gc
import sys
import types


class collector_paused:
    """The collector is off inside (until `streaming_starts`), and on again after, whatever happens."""

    def __enter__(self) -> None:
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        gc.enable()


def streaming_starts() -> None:
    """Set-up is over: keep what it made out of every later collection, and collect again."""
    gc.freeze()
    gc.enable()


def seed_websockets_version() -> bool:
    """Register a `websockets.version` module built from the release's literals; False (and nothing
    done) when websockets is missing, already imported, or not a release that this recognizes."""
    if "websockets.version" in sys.modules:
        return False
    literal = _released_version()
    if literal is None:
        return False
    module = types.ModuleType("websockets.version")
    module.__file__ = literal[1]
    module.__all__ = ["tag", "version", "commit"]  # type: ignore[attr-defined]
    module.released = True  # type: ignore[attr-defined]
    module.tag = module.version = module.commit = literal[0]  # type: ignore[attr-defined]
    sys.modules["websockets.version"] = module
    return True


def _released_version() -> tuple[str, str] | None:
    """(version, path of version.py) of an installed websockets release, read from its source."""
    import importlib.util
    import os

    try:
        spec = importlib.util.find_spec("websockets")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "version.py")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    # Plain line checks, not regexes: compiling patterns here would cost more than they save.
    released = next((line for line in lines if line in ("released = True", "released = False")), None)
    prefix = 'tag = version = commit = "'
    tagged = (line for line in lines if line.startswith(prefix) and line.endswith('"'))
    literal = next((line[len(prefix) : -1] for line in tagged), None)
    if released != "released = True" or not literal or '"' in literal:
        return None
    return literal, path


class _OnFirstUse(types.ModuleType):
    """Stands in `sys.modules` for a module not imported yet: the first attribute asked of it
    imports the real module, which replaces it there and in its package."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._loading = _thread.RLock()

    def __getattr__(self, attribute: str) -> object:
        # Only for attributes the stand-in lacks: every use of the real module's names.
        import importlib

        name = self.__name__
        with self._loading:
            if sys.modules.get(name) is self:
                del sys.modules[name]
            module = importlib.import_module(name)
        parent, _, child = name.rpartition(".")
        setattr(sys.modules[parent], child, module)
        return getattr(module, attribute)


def defer_urllib_request() -> bool:
    """Let `urllib.request` be imported on its first use; False (and nothing done) when it is
    already imported."""
    if "urllib.request" in sys.modules:
        return False
    import urllib

    stand_in = _OnFirstUse("urllib.request")
    sys.modules["urllib.request"] = stand_in
    urllib.request = stand_in  # type: ignore[attr-defined]
    return True
