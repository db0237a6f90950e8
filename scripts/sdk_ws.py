"""The official SDK doing the floor's work: `smallestai`'s `WavesStreamingTTS` pointed at WS_URL.

Text within one request (at most 250 characters) uses `synthesize(text)`, the SDK's documented
call; longer text goes through `synthesize_streaming(pieces)` (one socket, `continue: true` pieces
of at most 250 characters, each ending in a space so that words do not merge, then the SDK's
closing flush), so that the SDK needs one connection, as the floor and the CLI do.
Audio is written as it arrives.

    python scripts/sdk_ws.py WS_URL API_KEY TEXT_FILE OUTPUT [SAMPLE_RATE]

OUTPUT "-" writes the raw PCM to stdout. Needs `pip install smallestai` (bench.py installs it).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv: list[str]) -> int:
    url, key, text_file, output = argv[:4]
    rate = int(argv[4]) if len(argv) > 4 else 24000
    from floor_ws import segments
    from smallestai.waves import TTSConfig, WavesStreamingTTS

    with open(text_file, encoding="utf-8") as f:
        parts = segments(f.read())
    out = sys.stdout.buffer if output == "-" else open(output, "wb")
    tts = WavesStreamingTTS(TTSConfig(voice_id="magnus", api_key=key, sample_rate=rate))
    tts.ws_url = url
    chunks = tts.synthesize(parts[0]) if len(parts) == 1 else tts.synthesize_streaming(p + " " for p in parts)
    for chunk in chunks:
        out.write(chunk)
        out.flush()
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
