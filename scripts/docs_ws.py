"""The docs' WebSocket example, as a bench client: what the Streaming page shows a user.

The same steps as the Python example on the API reference's Streaming page: asyncio
`websockets`, numpy and sounddevice imported at the top, a blocking `OutputStream` opened and
started before connecting, one request, and each chunk written to the stream as it arrives.
Written here (not copied) so that the bench can point it at a local server.

    python scripts/docs_ws.py WS_URL API_KEY TEXT_FILE
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys

import numpy as np
import sounddevice as sd
import websockets

SAMPLE_RATE = 24000


async def speak(url: str, key: str, text: str) -> None:
    stream = sd.OutputStream(samplerate=SAMPLE_RATE, channels=1, dtype="int16")
    try:
        stream.start()
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
            body = {"text": text, "voice_id": "magnus", "model": "lightning_v3.1", "sample_rate": SAMPLE_RATE}
            await ws.send(json.dumps(body))
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("status") == "chunk":
                    stream.write(np.frombuffer(base64.b64decode(frame["data"]["audio"]), dtype=np.int16))
                elif frame.get("status") == "complete":
                    break
    finally:
        stream.stop()
        stream.close()


if __name__ == "__main__":
    url, key, text_file = sys.argv[1:4]
    with open(text_file, encoding="utf-8") as f:
        asyncio.run(speak(url, key, f.read().strip()))
