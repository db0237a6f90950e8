#!/usr/bin/env bash
# `make demo`: speak a sentence, save it as demo-out/demo.wav, and play it when an audio device exists.
# With no SMALLEST_API_KEY it starts `smallest serve` (eSpeak NG voice) on a free loopback port and talks to
# that, so it works offline; with a key it uses the real service.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=demo-out/demo.wav
TEXT=${DEMO_TEXT:-"Hello! This is smallest, streaming speech to your shell. Every word you hear was made offline, on this machine."}
mkdir -p demo-out

if [ -z "${SMALLEST_API_KEY:-}" ]; then
  tmp=$(mktemp -d)
  trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
  engine=espeak
  "$PY" -c "import espeakng_loader, soxr" 2>/dev/null || engine=tones
  "$PY" -m smallest_cli serve --port 0 --engine "$engine" --api-key sk_demo_local >"$tmp/url" 2>"$tmp/server.log" &
  server_pid=$!
  for _ in $(seq 1 200); do
    [ -s "$tmp/url" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
    sleep 0.05
  done
  export SMALLEST_BASE_URL; SMALLEST_BASE_URL=$(head -n 1 "$tmp/url")
  export SMALLEST_API_KEY=sk_demo_local
  echo "demo: local server ($engine engine) at $SMALLEST_BASE_URL" >&2
fi

play=--no-play
if "$PY" -c "import sounddevice as sd, sys; sys.exit(0 if sd.query_devices(kind='output') else 1)" 2>/dev/null; then
  play=--play
else
  echo "demo: no audio output device here, so only saving the file" >&2
fi

"$PY" -m smallest_cli stream-ws "$TEXT" --voice avery -o "$OUT" "$play"
echo "demo: saved $OUT" >&2
