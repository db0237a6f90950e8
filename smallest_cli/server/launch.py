"""Start `smallest serve` in a child process and wait until it listens: for test suites and CI jobs
(this project's own, and users'), which then point the CLI or any Waves client at `server.url`.

    from smallest_cli.server.launch import running_server

    with running_server("--first-chunk-ms", "100", api_key="sk_ci") as server:
        subprocess.run(["smallest", "speak", "Hi", "-o", "hi.wav"],
                       env={**os.environ, "SMALLEST_BASE_URL": server.url, "SMALLEST_API_KEY": "sk_ci"})

With `tls=(cert, key)` it serves https and wss, and `server.url` is `https://...`: a client then
trusts the certificate's CA through SSL_CERT_FILE (see docs/serve.md).
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from smallest_cli.protocol import contract


@dataclass
class Server:
    """A running `smallest serve`: its base URL and the key it accepts."""

    url: str
    api_key: str
    proc: subprocess.Popen[bytes]

    @property
    def ws_url(self) -> str:
        return contract.ws_url(self.url)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@contextmanager
def running_server(
    *args: str,
    api_key: str,
    timeout: float = 20.0,
    cwd: Path | None = None,
    tls: tuple[str | Path, str | Path] | None = None,
    log: IO[bytes] | None = None,
) -> Iterator[Server]:
    """Start `smallest serve --port 0 --api-key KEY ARGS...` (with `--tls-cert CERT --tls-key KEY`
    for `tls=(CERT, KEY)`); yield once it printed its base URL; stop it (SIGTERM, then SIGKILL
    after 10 s) on the way out. Its log (stderr) goes to `log`, else nowhere."""
    cmd = [sys.executable, "-m", "smallest_cli", "serve", "--port", "0", "--api-key", api_key, *args]
    if tls is not None:
        cmd += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL, cwd=cwd)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline().decode().strip() if ready else ""
        if not line.startswith(("http://", "https://")):
            raise RuntimeError(f"server did not start: {line!r} (exit {proc.poll()})")
        yield Server(url=line, api_key=api_key, proc=proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
