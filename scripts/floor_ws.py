"""The floor: the least a Python client can do to stream Waves TTS over a WebSocket into a file.

Plain `websockets` (sync client), one JSON request per segment of at most 250 characters on a
connection of its own (the reference's server closes the socket after `complete`), asking for
`complete` right after the last chunk (`complete_backoff_ms: 0`), each `chunk` frame's audio
base64-decoded and written as it arrives. No options parsing beyond argv, no config, no retries, no
display. `scripts/bench.py` runs it beside the CLI.

    python scripts/floor_ws.py WS_URL API_KEY TEXT_FILE OUTPUT [SAMPLE_RATE]

OUTPUT "-" writes the raw PCM to stdout. Exit 0 when every segment ended with `complete`.
"""

from __future__ import annotations

import sys


def segments(text: str, limit: int = 250) -> list[str]:
    """Split at the last sentence end, comma or space before `limit` (a plain greedy split)."""
    out: list[str] = []
    rest = " ".join(text.split())
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
        if cut <= 0:
            cut = window.rfind(", ")
        cut = cut + 1 if cut > 0 else window.rfind(" ")
        if cut <= 0:
            cut = limit
        out.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        out.append(rest)
    return out


def main(argv: list[str]) -> int:
    url, key, text_file, output = argv[:4]
    rate = int(argv[4]) if len(argv) > 4 else 24000
    import base64
    import json

    from websockets.sync.client import connect

    with open(text_file, encoding="utf-8") as f:
        parts = segments(f.read())
    out = sys.stdout.buffer if output == "-" else open(output, "wb")
    for text in parts:
        body = {"text": text, "voice_id": "magnus", "model": "lightning_v3.1", "sample_rate": rate,
                "speed": 1.0, "complete_backoff_ms": 0}
        with connect(url, additional_headers={"Authorization": f"Bearer {key}"}, compression=None) as ws:
            ws.send(json.dumps(body))
            while True:
                frame = json.loads(ws.recv())
                status = frame.get("status")
                if status == "chunk":
                    out.write(base64.b64decode(frame["data"]["audio"]))
                    out.flush()
                elif status == "complete":
                    break
                elif status == "error":
                    print(f"error: {frame.get('message')}", file=sys.stderr)
                    return 5
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
