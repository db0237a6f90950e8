"""`smallest --help` and `--version` must not import heavy modules (startup speed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smallest_cli.transports.tls import CA_VARIABLES
from tests.helpers import cli_probe

HEAVY = ("numpy", "sounddevice", "websockets", "requests", "aiohttp")

PROBE = """
import sys

import pytest
from smallest_cli.cli import build_app
try:
    build_app()(prog_name="smallest", args=sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print("HEAVY:" + ",".join(heavy))
"""


def _heavy_after(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), *args],
        capture_output=True, text=True, check=True,
    ).stdout
    return out.rsplit("HEAVY:", 1)[1].strip()


def test_help_imports_no_heavy_modules() -> None:
    assert _heavy_after("--help") == ""


def test_version_imports_no_heavy_modules() -> None:
    assert _heavy_after("--version") == ""


def test_version_prints_version() -> None:
    from smallest_cli import __version__

    out = subprocess.run([sys.executable, "-m", "smallest_cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.strip() == f"smallest {__version__}"


def test_version_builds_no_typer_app() -> None:
    probe = (
        "import sys; sys.argv = ['smallest', '--version']\n"
        "from smallest_cli.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        "print('RESULT:', code, sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'click')))"
    )
    out = _python(probe)
    assert out.rsplit("RESULT:", 1)[1].split() == ["0", "[]"]


# -- help: plain click formatter, printed without parsing (cli.print_help) ---------------------------

HELP_ARGS = [
    ["--help"], ["-h"], ["speak", "--help"], ["stream-sse", "-h"], ["stream-ws", "--help"],
    ["voices", "--help"], ["serve", "--help"], ["devices", "-h"], ["config", "--help"], ["cache", "--help"],
]

HELP_PROBE = """
import sys

sys.argv = ["smallest", *sys.argv[1:]]
from smallest_cli.__main__ import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print("MODULES:" + ",".join(sorted(set(sys.modules) & {names!r})))  # top-level packages
"""


@pytest.mark.parametrize("argv", HELP_ARGS, ids=" ".join)
def test_help_is_what_typer_prints_without_rich_or_pydantic(argv: list[str]) -> None:
    env = {**__import__("os").environ, "COLUMNS": "100"}
    fast = subprocess.run(
        [sys.executable, "-c", HELP_PROBE.format(names={"rich", "pydantic", *HEAVY}), *argv],
        capture_output=True, text=True, check=True, env=env,
    ).stdout
    text, modules = fast.rsplit("MODULES:", 1)
    assert modules.strip() == "", "help must not import rich, pydantic or the network/audio libraries"
    typer_run = (
        "import sys\nfrom smallest_cli.cli import build_app\n"
        "build_app()(prog_name='smallest', args=sys.argv[1:])"
    )
    slow = subprocess.run([sys.executable, "-c", typer_run, *argv], capture_output=True, text=True, env=env)
    assert slow.returncode == 0
    assert text == slow.stdout
    assert "Usage: smallest" in text


def test_help_keeps_examples_and_exit_codes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "smallest_cli", "stream-ws", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert 'smallest stream-ws "Lowest latency"' in out
    assert "Exit codes: 0 success" in out and "130 interrupted" in out
    root = subprocess.run(
        [sys.executable, "-m", "smallest_cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert 'smallest speak "Hello from the shell"' in root and "Exit codes:" in root
    assert "..." not in root.split("Commands:", 1)[1], "command summaries are not cut short"


def test_unknown_command_help_is_left_to_typer() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "smallest_cli", "bogus", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "bogus" in out.stderr


# -- the synthesis commands' fast path (smallest_cli/options/parse.py) -----------------------------

FAST_PROBE = """
import sys

import pytest
from smallest_cli import __main__ as entry
from smallest_cli.run import synth
seen = []
synth.run_synth = lambda command, args, dial: seen.append(command)
code = entry._run_fast(sys.argv[1:], {{}})
# websockets.version is the placeholder that startup.py registers, not an import of websockets.
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r} and m != "websockets.version")
print("RESULT:", code, seen, ",".join(heavy))
"""


def _typer_parse(argv: list[str], monkeypatch: pytest.MonkeyPatch):
    """What typer hands run_synth for `argv`, or the exit code it stops with."""
    import typer.main

    from smallest_cli.cli import build_app
    from smallest_cli.run import synth

    seen: list[tuple[str, object]] = []
    monkeypatch.setattr(synth, "run_synth", lambda command, args: seen.append((command, dict(args))))
    try:
        typer.main.get_command(build_app()).main(args=argv, prog_name="smallest", standalone_mode=False)
    except Exception as exc:  # noqa: BLE001 - usage errors
        return type(exc).__name__
    return seen[0] if seen else None


def _fast_parse(argv: list[str]):
    from smallest_cli.options.parse import parse

    call = parse(argv, {})
    return None if call is None else (call.command, dict(call.args))


SAME_AS_TYPER = [
    ["speak", "Hello"],
    ["stream-sse", "Hello", "-o", "-", "--format", "pcm"],
    ["stream-ws", "-", "-o", "out.wav", "-v", "avery", "--speed", "1.25", "-r", "16000", "-q"],
    ["stream-ws", "--voice=liam", "--sample-rate=8000", "--timeout", "2.5", "--retries", "0", "Hi"],
    ["speak", "-f", "notes.txt", "--model", "lightning_v3.1_pro", "--language", "hi", "--json", "--debug"],
    ["speak", "Hi", "--no-play", "--device", "3", "--base-url", "http://127.0.0.1:1", "--api-key", "sk_x"],
    ["stream-ws", "Hi", "--word-timestamps", "--play", "--allow-insecure", "--speed", ".5"],
    ["stream-sse", "--output", "-", "--retries", "-1", "Hi"],
    ["speak", "-o", "-", "--format", "mp3", "--speed", "2", "Hi there"],
    ["speak", ""],
    ["speak"],
]


@pytest.mark.parametrize("argv", SAME_AS_TYPER, ids=lambda a: " ".join(a) or "empty")
def test_fast_path_parses_like_typer(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _fast_parse(argv)
    assert fast is not None, "the fast path should take these arguments"
    assert fast == _typer_parse(argv, monkeypatch)


FALLS_BACK = [
    [],
    ["--version"],
    ["voices"],
    ["speak", "--help"],
    ["speak", "-h"],
    ["speak", "Hi", "there"],  # a second positional: typer's error
    ["speak", "--", "-Hi"],
    ["speak", "-qv", "avery", "Hi"],  # bundled short options
    ["speak", "-vavery", "Hi"],  # attached short value
    ["speak", "-o=x", "Hi"],
    ["speak", "--voice"],  # missing value
    ["speak", "--voice", "a", "--voice", "b"],  # repeated
    ["speak", "--speed", "fast"],
    ["speak", "--speed", "1e0"],
    ["speak", "-r", "24k"],
    ["speak", "--json=1"],
    ["speak", "--word-timestamps", "Hi"],  # stream-ws only
    ["stream-sse", "--live"],  # stream-ws only
    ["speak", "--unknown"],
    ["speak", "-5"],
]


@pytest.mark.parametrize("argv", FALLS_BACK, ids=lambda a: " ".join(a) or "empty")
def test_fast_path_leaves_the_rest_to_typer(argv: list[str]) -> None:
    assert _fast_parse(argv) is None


def test_fast_path_leaves_shell_completion_to_typer() -> None:
    from smallest_cli.options import parse as fastpath

    assert fastpath.parse(["speak", "Hi"], {"_SMALLEST_COMPLETE": "complete_bash"}) is None


def test_fast_path_accepts_exactly_the_typer_commands_options() -> None:
    """Both parsers come from the option table: each accepts the same spellings for each command."""
    import typer.main

    from smallest_cli.cli import build_app
    from smallest_cli.options.table import SYNTH_COMMANDS, options_for

    group = typer.main.get_command(build_app())
    for name in SYNTH_COMMANDS:
        command = group.commands[name]  # type: ignore[attr-defined]
        options = [p for p in command.params if p.param_type_name == "option"]
        declared = {s for p in options for s in [*p.opts, *p.secondary_opts]}
        fast = {s for option in options_for(name) for s in option.spellings}
        assert fast == declared - {"-h", "--help"}, name


def test_every_long_option_is_declared_once() -> None:
    """A long spelling names one row of the table, and no client module spells it again."""
    import re
    from pathlib import Path

    from smallest_cli.options.table import OPTIONS

    longs = [s for o in OPTIONS for s in o.spellings if s.startswith("--")]
    assert len(longs) == len(set(longs))
    root = Path(__file__).resolve().parent.parent / "smallest_cli"
    for path in root.rglob("*.py"):
        if path.name == "table.py" or "server" in path.relative_to(root).parts:
            continue
        quoted = set(re.findall(r"""["'](--[a-z][a-z-]+)["']""", path.read_text(encoding="utf-8")))
        assert not quoted & set(longs), f"{path}: declare these in options/table.py: {quoted & set(longs)}"


def test_fast_path_runs_without_typer_or_heavy_modules() -> None:
    out = subprocess.run(
        [sys.executable, "-c", FAST_PROBE.format(heavy={"typer", "click", "pydantic", *HEAVY}),
         "stream-ws", "Hello", "-o", "-"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert out.rsplit("RESULT:", 1)[1].split() == ["0", "['stream-ws']"]


# -- start-up tricks (smallest_cli/startup.py): each fails here when it stops applying --------------


def _python(code: str, env: dict[str, str] | None = None) -> str:
    """What `python -c code` prints, in a fresh interpreter."""
    cmd = [sys.executable, "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout


def test_websockets_version_is_seeded_without_importlib_metadata() -> None:
    """Fails when a websockets upgrade changes its version.py so that the trick no longer applies."""
    probe = (
        "import sys; from smallest_cli import startup; applied = startup.seed_websockets_version(); "
        "import websockets, websockets.http11; import importlib.metadata as md; "
        "print(applied, websockets.__version__ == md.version('websockets'), websockets.http11.USER_AGENT)"
    )
    out = _python(probe)
    applied, same, agent = out.split(" ", 2)
    assert applied == "True", "the trick no longer applies: remove it (smallest_cli/startup.py)"
    assert same == "True" and "websockets/" in agent


def test_importing_websockets_imports_importlib_metadata_without_the_trick() -> None:
    """What the trick saves: without it, websockets' import pulls in importlib.metadata."""
    probe = "import sys, websockets; print('importlib.metadata' in sys.modules)"
    out = _python(probe)
    assert out.strip() == "True", "websockets no longer imports importlib.metadata: remove the trick"


def test_importing_websockets_sync_client_imports_urllib_request_without_the_trick() -> None:
    """What `defer_urllib_request` saves: websockets imports urllib.request (and with it
    http.client and email) only to look up a proxy."""
    probe = (
        "import sys, websockets.sync.client; "
        "print('urllib.request' in sys.modules, 'email' in sys.modules)"
    )
    out = _python(probe)
    assert out.split() == ["True", "True"], "websockets no longer imports urllib.request: remove the trick"


def test_urllib_request_deferred_loads_in_full_on_first_use() -> None:
    """However it is reached (an attribute of the package, `from ... import`, a proxy lookup by
    websockets), the module behind the stand-in is the real one, and then stands in its place."""
    probe = (
        "import sys; from smallest_cli import startup; applied = startup.defer_urllib_request(); "
        "import urllib.request; held = type(sys.modules['urllib.request']).__name__; "
        "from websockets.proxy import get_proxy; from websockets.uri import parse_uri; "
        "proxy = get_proxy(parse_uri('wss://example.com/')); "
        "from urllib.request import Request; "
        "real = sys.modules['urllib.request']; "
        "print(applied, held, proxy, urllib.request is real, Request is real.Request, "
        "hasattr(real, 'urlopen'))"
    )
    env = {"PATH": "/usr/bin:/bin", "https_proxy": "http://proxy.example:3128"}
    out = _python(probe, env)
    assert out.split() == ["True", "_OnFirstUse", "http://proxy.example:3128", "True", "True", "True"]


def test_the_dial_does_not_import_socket_before_its_syn() -> None:
    """The dial's thread sends the SYN with `_socket` (socket imports after it), and looks up an
    ASCII host name without the idna codec; the main thread imports threading meanwhile."""
    probe = (
        "import _socket, sys\n"
        "seen = []\n"
        "def hook(event, args):\n"
        "    if event == 'socket.connect' and not seen:\n"
        "        seen.append('socket' in sys.modules or 'encodings.idna' in sys.modules)\n"
        "sys.addaudithook(hook)\n"
        # Where `localhost` leads first (127.0.0.1 or ::1): the dial connects there.
        "family, _, _, _, (host, *_) = _socket.getaddrinfo(b'localhost', 0, 0, _socket.SOCK_STREAM)[0]\n"
        "listener = _socket.socket(family); listener.bind((host, 0)); listener.listen()\n"
        "from smallest_cli.transports.dial import Dial\n"
        "url = f'http://localhost:{listener.getsockname()[1]}'\n"
        "sock = Dial(url, timeout=5).take(url)\n"
        "print(seen, sock is not None)"
    )
    assert _python(probe).split() == ["[False]", "True"]


#: Standard modules the interpreter does not load at start, each of which (with what it imports)
#: costs milliseconds in a fresh process: none may be imported before the early dial's SYN.
NOT_BEFORE_THE_SYN = (
    "typing", "re", "pathlib", "contextlib", "collections", "functools", "enum", "signal",
    "urllib.parse", "ipaddress", "encodings.idna", "socket", "threading", "tomllib", "warnings",
    # The config file's checks (voice, model, key, URL): the run makes them, the dial needs none.
    "smallest_cli.protocol.request", "smallest_cli.options.security",
)

SYN_PROBE = """
import _socket, os, sys
sys.path.insert(0, {root!r})
listener = _socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen()
os.environ.update(SMALLEST_BASE_URL=f"http://127.0.0.1:{{listener.getsockname()[1]}}",
                  HOME={home!r}, XDG_CONFIG_HOME={home!r}, **{key_env!r})
def hook(event, args):
    if event == "socket.connect" and args[1][1] == listener.getsockname()[1]:
        loaded = sorted(m for m in {modules!r} if m in sys.modules)
        os.write(1, ("LOADED:" + ",".join(loaded) + "\\n").encode())
        os._exit(0)
sys.addaudithook(hook)
sys.argv = ["smallest", *sys.argv[1:]]
from smallest_cli.__main__ import main
main()
"""


@pytest.mark.parametrize("config_file", [False, True], ids=["no-config-file", "config-file"])
@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_the_early_dials_syn_goes_out_before_the_standard_library_loads(
    command: str, config_file: bool, tmp_path: Path
) -> None:
    """Started with no site (`-S`), as the setuptools editable finder of a development install
    imports pathlib, re and enum at every start and would hide them: the modules read before the
    SYN (`__main__`, the option table and parser, the config file's reader, the dial) take their
    annotations' names under TYPE_CHECKING and import what else they need where they use it. The
    key and voice in a config file that `config set` wrote are read without tomllib (startup.py,
    5.) and without their checks."""
    from smallest_cli.options.config import render

    text = tmp_path / "in.txt"
    text.write_text("Hello.", encoding="utf-8")
    key_env = {"SMALLEST_API_KEY": "sk_test_0123456789"}
    if config_file:
        (tmp_path / "smallest").mkdir()
        values = {"api_key": "sk_test_0123456789", "voice": "magnus", "speed": "1.25"}
        (tmp_path / "smallest" / "config.toml").write_text(render(values), encoding="utf-8")
        key_env = {}
    code = SYN_PROBE.format(root=str(Path(__file__).resolve().parent.parent), home=str(tmp_path),
                            modules=NOT_BEFORE_THE_SYN, key_env=key_env)
    cmd = [sys.executable, "-S", "-c", code, command, "-f", str(text), "-o", str(tmp_path / "out.wav")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert "LOADED:" in out.stdout, out.stderr[-2000:]
    assert out.stdout.split("LOADED:", 1)[1].strip() == ""


def test_the_main_thread_waits_for_the_dials_syn() -> None:
    """Dial() returns once the SYN is out: the main thread, importing on, would keep the dial's
    thread from the interpreter lock for a switch interval at each of its steps."""
    probe = (
        "import _socket, sys, time\n"
        "returned = []\n"
        "seen = []\n"
        "def hook(event, args):\n"
        "    if event == 'socket.connect' and not seen:\n"
        "        seen.append(bool(returned))\n"
        "sys.addaudithook(hook)\n"
        "listener = _socket.socket(); listener.bind(('127.0.0.1', 0)); listener.listen()\n"
        "from smallest_cli.transports import dial\n"
        "dial.SYN_WAIT_S = 30.0\n"  # the order is under test, not how long a slow lookup may take
        "class Slow:\n"  # a lookup that takes a while: the main thread waits for it all the same
        "    def __getattr__(self, name): return getattr(_socket, name)\n"
        "    def getaddrinfo(self, *args): time.sleep(0.2); return _socket.getaddrinfo(*args)\n"
        "dial._socket = Slow()\n"
        "url = f'http://127.0.0.1:{listener.getsockname()[1]}'\n"
        "d = dial.Dial(url, timeout=5)\n"
        "returned.append(True)\n"
        "sock = d.take(url)\n"
        "print(seen, sock is not None)"
    )
    assert _python(probe).split() == ["[False]", "True"]


def test_a_dial_that_fails_before_its_syn_lets_the_main_thread_go_on() -> None:
    """No SYN (a name that does not resolve): Dial() returns when the lookup fails, not after
    the longest wait, and take() raises the lookup's error."""
    probe = (
        "import _socket, time\n"
        "from smallest_cli.transports import dial\n"
        "dial.SYN_WAIT_S = 30.0\n"
        "class Unknown:\n"  # no name server asked: the lookup fails at once
        "    def __getattr__(self, name): return getattr(_socket, name)\n"
        "    def getaddrinfo(self, *args): raise _socket.gaierror(-2, 'Name or service not known')\n"
        "dial._socket = Unknown()\n"
        "start = time.monotonic()\n"
        "d = dial.Dial('https://no-such-host.example', timeout=5)\n"
        "waited = time.monotonic() - start\n"
        "try:\n"
        "    d.take('https://no-such-host.example')\n"
        "except OSError as exc:\n"
        "    print(waited < 20, type(exc).__name__)\n"
    )
    assert _python(probe).split() == ["True", "gaierror"]


def test_the_main_thread_stays_threadings_main_thread_when_the_dial_loads_certifi() -> None:
    """Before Python 3.13 the thread that imports threading first is its main thread; the dial's
    thread would (certifi's bundle, with no CA variable set, imports it through zipfile)."""
    probe = (
        "import _socket, _thread, sys\n"
        "listener = _socket.socket(); listener.bind(('127.0.0.1', 0)); listener.listen()\n"
        "from smallest_cli.transports.dial import Dial\n"
        "url = f'https://127.0.0.1:{listener.getsockname()[1]}'\n"
        "dial = Dial(url, timeout=5)\n"
        "conn, _ = listener._accept(); _socket.close(conn)\n"
        "try:\n"
        "    dial.take(url)\n"
        "except OSError:\n"
        "    pass\n"
        "import threading\n"
        "print('certifi' in sys.modules, threading.main_thread().ident == _thread.get_ident())"
    )
    env = {k: v for k, v in os.environ.items() if k not in CA_VARIABLES}
    assert _python(probe, env).split() == ["True", "True"]


# -- what the synthesis commands import before the first audio byte ---------------------------------

def at_first_byte(snapshot: str, report: str, setup: str = "") -> str:
    """A script that runs the CLI (its arguments after `-c`), takes `snapshot` (an expression) when
    the first audio byte reaches the output file, and prints `RESULT: <exit code> <report>`, where
    `report` is an expression of `seen[0]`, the snapshot."""
    return cli_probe(f"""
from smallest_cli.output import sinks
{setup}
seen = []
write = sinks.FileSink.write


def first_write(self, data):
    if not seen:
        seen.append({snapshot})
    return write(self, data)


sinks.FileSink.write = first_write
""", f"{report} if seen else 'no-audio'")



#: Imported only for the features that need them (live text, captions, --concurrency, long text,
#: a config file, the display's styling and its line of words heard, typer's parsing, --debug,
#: Markdown, the audio cache).
NOT_ON_THE_HOT_PATH = {
    "smallest_cli.source.live", "smallest_cli.run.scheduler", "smallest_cli.run.limit",
    "smallest_cli.run.replay", "smallest_cli.output.captions", "smallest_cli.output.cache",
    "smallest_cli.run.cached",
    "smallest_cli.protocol.captions", "smallest_cli.protocol.segment", "smallest_cli.protocol.graphemes",
    "smallest_cli.source.textinput",
    "smallest_cli.transports.debuglog", "smallest_cli.output.karaoke", "smallest_cli.source.markdown",
    "tomllib", "rich", "typer", "click", "pydantic", "markdown_it",
}
MODULES_AT_FIRST_BYTE = at_first_byte(
    "set(sys.modules)", f"\",\".join(sorted(seen[0] & {NOT_ON_THE_HOT_PATH!r}))"
)


@pytest.mark.parametrize("command", ["stream-ws", "stream-sse", "speak"])
def test_default_run_imports_no_feature_modules_before_the_first_byte(
    command: str, env: dict[str, str], tmp_path
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", MODULES_AT_FIRST_BYTE,
         command, "Hello from the shell.", "-o", str(tmp_path / "out.wav")],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
    )
    assert out.stdout.rsplit("RESULT:", 1)[1].split() == ["0"], out.stdout + out.stderr


@pytest.mark.skipif(
    sys.platform in ("darwin", "win32"),
    reason="there the dial's proxy check reads the system's settings with urllib.request",
)
def test_a_websocket_run_looks_up_no_proxy_before_the_first_byte(env: dict[str, str], tmp_path: Path) -> None:
    """The upgrade over the early-dialled socket never reads the proxy settings, so urllib.request
    (with http.client and email) is not loaded before the first byte (startup.defer_urllib_request)."""
    probe = at_first_byte(
        "(type(sys.modules.get('urllib.request')).__name__, 'email' in sys.modules)",
        "'%s,%s' % seen[0]",
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, "stream-ws", "Hello from the shell.", "-o", str(tmp_path / "out.wav")],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
    )
    assert out.stdout.rsplit("RESULT:", 1)[1].split() == ["0", "_OnFirstUse,False"], out.stdout + out.stderr


@pytest.mark.skipif(
    sys.platform in ("darwin", "win32"),
    reason="there the dial's proxy check reads the system's settings with urllib.request",
)
def test_a_long_websocket_run_never_loads_urllib_request(env: dict[str, str], tmp_path: Path) -> None:
    """The connections after the dialled one look up no proxy either when none is configured."""
    text = " ".join(f"Sentence number {i} of a text long enough for several requests." for i in range(12))
    probe = cli_probe("", "type(sys.modules.get('urllib.request')).__name__")
    out = subprocess.run(
        [sys.executable, "-c", probe, "stream-ws", text, "-o", str(tmp_path / "out.wav"), "--json"],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
    )
    assert out.stdout.rsplit("RESULT:", 1)[1].split() == ["0", "_OnFirstUse"], out.stdout + out.stderr
    assert '"segments": ' in out.stdout and '"segments": 1,' not in out.stdout


def test_features_still_import_their_modules(env: dict[str, str], tmp_path) -> None:
    """The probe above sees these modules when their feature is asked for (it is not blind)."""
    out = subprocess.run(
        [sys.executable, "-c", MODULES_AT_FIRST_BYTE,
         "stream-ws", "Hello from the shell.", "-o", str(tmp_path / "out.wav"),
         "-v", "avery", "--captions", str(tmp_path / "out.srt"), "--concurrency", "2", "--markdown",
         "--cache"],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
    )
    code, modules = out.stdout.rsplit("RESULT:", 1)[1].split()
    assert code == "0", out.stderr
    features = {"smallest_cli.output.captions", "smallest_cli.run.scheduler", "smallest_cli.run.limit",
                "smallest_cli.source.markdown", "markdown_it", "smallest_cli.output.cache"}
    assert features <= set(modules.split(","))


@pytest.mark.parametrize("where", ["set-up", "command"])
def test_ctrl_c_outside_the_commands_guard_exits_130(
    where: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C while main() sets up (imports) or in the command outside its guard: one line, 130."""
    import gc

    from smallest_cli import startup
    from smallest_cli.__main__ import main
    from smallest_cli.run import synth

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    if where == "set-up":
        monkeypatch.setattr(startup, "seed_websockets_version", interrupted)
    else:
        monkeypatch.setattr(synth, "run_synth", interrupted)
    monkeypatch.setattr(sys, "argv", ["smallest", "speak", "Hi", "-o", "x.wav"])
    with pytest.raises(SystemExit) as info:
        try:
            main()
        except KeyboardInterrupt:
            pytest.fail("main() let KeyboardInterrupt through (a traceback)")
    assert info.value.code == 130
    assert capsys.readouterr().err == "smallest: interrupted\n"
    assert gc.isenabled()


GC_PROBE = cli_probe("""
import gc

from smallest_cli.options import config
from smallest_cli.run import pipeline

seen = {}
load_config, run = config.load_config, pipeline.Pipeline.run


def loading(*args, **kwargs):
    seen["set-up"] = gc.isenabled()
    return load_config(*args, **kwargs)


def running(self, *args, **kwargs):
    seen["streaming"] = gc.isenabled() and gc.get_freeze_count() > 0
    return run(self, *args, **kwargs)


config.load_config, pipeline.Pipeline.run = loading, running
""", 'seen.get("set-up"), seen.get("streaming"), gc.isenabled()')


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["Hello from the shell."], ["0", "False", "True", "True"]),
        # Refused before any request: the collector is still on again afterwards.
        (["--speed", "9", "Hi"], ["2", "False", "None", "True"]),
    ],
    ids=["streams", "usage-error"],
)
def test_the_collector_is_off_only_while_the_fast_path_sets_up(
    argv: list[str], expected: list[str], env: dict[str, str], tmp_path
) -> None:
    """Set-up runs without the cyclic GC (startup makes no garbage); streaming and whatever
    follows the command run with it."""
    out = subprocess.run(
        [sys.executable, "-c", GC_PROBE, "stream-ws", *argv, "-o", str(tmp_path / "out.wav")],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
    )
    assert out.stdout.rsplit("RESULT:", 1)[1].split() == expected, out.stderr


#: Counts the collections made while a synthesis command sets up: until `streaming_starts`, when
#: the collector is on again (threads may collect from then on, and rightly so).
COLLECTIONS_DURING_SET_UP = """
import contextlib
import gc
import sys

from smallest_cli import startup
from smallest_cli.__main__ import main  # before counting: the console script imports it before main()

if sys.argv.pop(1) == "without":
    startup.collector_paused = contextlib.nullcontext
    resume = lambda: None
else:
    resume = startup.streaming_starts
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
seen = []


def streaming_starts():
    seen.append(len(collections))
    resume()


startup.streaming_starts = streaming_starts
sys.argv = ["smallest", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("RESULT:", code or 0, seen[0] if seen else "never")
"""


@pytest.mark.parametrize(("trick", "collected"), [("with", False), ("without", True)])
def test_set_up_collects_garbage_only_without_the_paused_collector(
    trick: str, collected: bool, env: dict[str, str], tmp_path
) -> None:
    """What the paused collector saves: without it the collector runs during set-up. When set-up
    no longer triggers a collection (a Python with other thresholds, say), this fails: remove the
    trick (smallest_cli/startup.py)."""
    out = subprocess.run(
        [sys.executable, "-c", COLLECTIONS_DURING_SET_UP, trick, "stream-ws", "Hello from the shell.",
         "-o", str(tmp_path / "out.wav")],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
    )
    code, during_set_up = out.stdout.rsplit("RESULT:", 1)[1].split()
    assert code == "0", out.stderr
    assert (int(during_set_up) > 0) is collected, during_set_up


# -- writing a file needs no audio library ------------------------------------------------------------

AUDIO_LIBRARIES = {"sounddevice", "numpy"}


@pytest.mark.parametrize(
    ("argv", "imported"),
    [
        (["speak", "Hello from the shell.", "-o", "{out}"], ""),
        (["stream-ws", "Hello from the shell.", "-o", "{out}"], ""),
        (["stream-sse", "Hello from the shell.", "-o", "{out}"], ""),
        # The probe is not blind: playing loads sounddevice (raw int16 streams need no numpy).
        (["speak", "Hello from the shell.", "-o", "{out}", "--play"], "sounddevice"),
    ],
    ids=["speak", "stream-ws", "stream-sse", "play-control"],
)
def test_writing_a_file_imports_no_audio_library(
    argv: list[str], imported: str, env: dict[str, str], tmp_path
) -> None:
    from pathlib import Path

    out = tmp_path / "out.wav"
    alsa = Path(__file__).parent / "alsa" / "capture.conf"
    run_env = {**env, "ALSA_CONFIG_PATH": str(alsa), "AUDIO_CAPTURE_FILE": str(tmp_path / "capture.raw")}
    proc = subprocess.run(
        [sys.executable, "-c", HELP_PROBE.format(names=AUDIO_LIBRARIES), *[a.format(out=out) for a in argv]],
        capture_output=True, text=True, env=run_env, stdin=subprocess.DEVNULL, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rsplit("MODULES:", 1)[1].strip() == imported
    assert out.read_bytes()[:4] == b"RIFF" and out.stat().st_size > 44


@pytest.mark.parametrize(
    ("argv", "imported"),
    [
        (["stream-ws", "Hello from the shell.", "-o", "{out}/a.wav"], ""),
        (["speak", "Hello from the shell.", "-o", "{out}/a.wav"], ""),
        (["batch", "{out}/lines.txt", "--out-dir", "{out}/rows"], ""),
        # The probe is not blind: the voices' table is drawn with rich.
        (["voices"], "rich"),
    ],
    ids=["stream-ws", "speak", "batch", "voices-control"],
)
def test_a_run_whose_stderr_is_no_terminal_never_imports_rich(
    argv: list[str], imported: str, env: dict[str, str], tmp_path: Path
) -> None:
    """rich draws the live status; the plain summary and notes are written without it (it takes
    about 25 ms to import, at the end of every scripted run)."""
    (tmp_path / "lines.txt").write_text("First row.\nSecond row.\n")
    proc = subprocess.run(
        [sys.executable, "-c", HELP_PROBE.format(names={"rich"}), *[a.format(out=tmp_path) for a in argv]],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rsplit("MODULES:", 1)[1].strip() == imported
    if argv[0] != "voices":
        assert proc.stderr.startswith("smallest: ") and proc.stderr.count("\n") == 1, proc.stderr
