"""Constants of the Waves contract (../shared/waves-protocol.md)."""

from __future__ import annotations

from smallest_cli.errors import UsageError

MODELS: tuple[str, ...] = ("lightning_v3.1", "lightning_v3.1_pro")
DEFAULT_MODEL = "lightning_v3.1"
SAMPLE_RATES: tuple[int, ...] = (8000, 16000, 24000, 44100)
SERVER_DEFAULT_SAMPLE_RATE = 44100
#: Order as the server lists them in its invalid_enum_value message.
OUTPUT_FORMATS: tuple[str, ...] = ("wav", "ulaw", "alaw", "pcm", "mp3")
SPEED_MIN = 0.5
SPEED_MAX = 2.0
MAX_TEXT_CHARS = 250
TARGET_TEXT_CHARS = 140
MAX_BUFFER_FLUSH_MS = (0, 1000)
COMPLETE_BACKOFF_MS = (0, 10000)
DEFAULT_IDLE_TIMEOUT_S = 60.0
#: The idle timeout a live session asks for (`?timeout=`): live input may pause for minutes.
LIVE_IDLE_TIMEOUT_S = 3600
MAX_MESSAGE_BYTES = 64 * 1024

TTS_PATH = "/waves/v1/tts"
LIVE_PATH = "/waves/v1/tts/live"
HEALTH_PATH = "/waves/v1/health"
#: The voice catalog path. Its segment is the model's hyphen form. Versions of
#: get-voices-openapi.yaml read two ways: it lists the standard and the Pro voices together (and
#: there is no other path), or the standard ones only, the Pro ones being at PRO_VOICES_PATH.
VOICES_PATH = "/waves/v1/lightning-v3.1/get_voices"
PRO_VOICES_PATH = "/waves/v1/lightning-v3.1-pro/get_voices"
DEFAULT_BASE_URL = "https://api.smallest.ai"
#: The header naming the server's id of an HTTP request (in WebSocket frames: `request_id`).
REQUEST_ID_HEADER = "X-Request-Id"
#: The ids an HTTP response carries besides X-Request-Id, by the name WebSocket frames give them.
ID_HEADERS: dict[str, str] = {
    "session_id": "X-Session-Id",
    "external_request_id": "X-External-Request-Id",
    "external_session_id": "X-External-Session-Id",
}


def check_format(fmt: str) -> str:
    """`fmt` in lower case, or UsageError when it is no output format of the contract."""
    name = fmt.lower()
    if name not in OUTPUT_FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(OUTPUT_FORMATS)}")
    return name


def live_url(base_url: str) -> str:
    """The WebSocket endpoint's URL on the server at `base_url`."""
    return ws_url(base_url) + LIVE_PATH


def ws_url(base_url: str) -> str:
    """`http://h:p` → `ws://h:p`, `https://h` → `wss://h`."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :]
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :]
    return base
