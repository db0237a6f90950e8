"""Connection set-up started before it is needed: DNS, TCP and TLS in a background thread.

A far server costs a round trip for TCP and another for TLS before the WebSocket upgrade can be
sent. The server is known from the parsed arguments and the config file long before the command's
modules and the transport's network library are imported and the input is read, so `Dial` starts
those handshakes then (`run.early`), and the transport takes the socket when it connects. The
only thing ever written on it here is the WebSocket upgrade that `upgrade()` hands over once the
input is known to be good (the key leaves the machine with it): sent as soon as TLS is up, it
travels while the WebSocket library imports.

Standard library only, and the SYN goes out through `_thread` and `_socket`, while `socket` (its
enums, selectors) and `threading` are not imported yet (listed in startup.py); ssl only for https,
which the transport would import anyway. The main thread waits for the SYN before it goes on
(`SYN_WAIT_S` at most): importing, it would hold the interpreter lock for a switch interval
(5 ms) each time the dial's thread asked for it, 7 to 20 ms in all before the SYN.
Not used when a proxy is configured in the environment: the transport's own connect honours it.
"""

from __future__ import annotations

import _socket
import _thread
import sys
import time

from smallest_cli.errors import SmallestError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (startup.py)
if TYPE_CHECKING:
    import socket
    import ssl
    from collections.abc import Mapping
    from typing import Any

    from smallest_cli.protocol.upgrade import Upgrade

#: A socket the server may have given up on while it waited unused (a slow pipe's first text).
MAX_IDLE_S = 10.0
#: The longest the main thread waits for the SYN: enough for a cached name lookup and the thread's
#: start on a busy machine; a lookup that asks a name server runs on its own while the main thread
#: imports.
SYN_WAIT_S = 0.01


def proxied(environ: Mapping[str, str]) -> bool:
    """A proxy is configured: connections go through it, not straight to the server. Any
    `*_proxy` variable, as urllib (and so websockets and requests) reads them; on macOS and
    Windows also the system's settings, which only urllib can read."""
    if any(name.lower().endswith("_proxy") and name.lower() != "no_proxy" and value
           for name, value in environ.items()):
        return True
    if sys.platform in ("darwin", "win32"):
        import urllib.request

        return bool(urllib.request.getproxies())
    return False


class Dial:
    """One connection to the host of `base_url`, opened in a background thread; `take()` hands it
    to the first caller that connects to the same scheme, host and port."""

    def __init__(self, base_url: str, timeout: float) -> None:
        where = address_of(base_url)
        if where is None:
            raise ValueError(f"no host and port to dial in {base_url!r}")
        self._secure, self._host, self._port = where
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._opened = 0.0
        self._error: BaseException | None = None
        self._taken = False
        #: The upgrade to write once TLS is up; `_sent` once it is written on `_sock`.
        self._upgrade: Upgrade | None = None
        self._sent: Upgrade | None = None
        self._lock = _thread.allocate_lock()
        #: Held until the thread is done: `take()` waits on it.
        self._busy = _thread.allocate_lock()
        self._busy.acquire()
        #: Held until this thread has imported threading (below).
        self._main_ready = _thread.allocate_lock()
        self._main_ready.acquire()
        #: Held until the SYN is out, or the dial failed before it.
        self._syn = _thread.allocate_lock()
        self._syn.acquire()
        self._syn_released = False
        _thread.start_new_thread(self._run, ())
        self._syn.acquire(timeout=SYN_WAIT_S)
        # Before Python 3.13, the thread that first imports threading is its main thread for good;
        # the dial's thread could (certifi imports zipfile, which imports threading), so it waits
        # for this import before anything but the SYN.
        try:
            import threading  # noqa: F401
        finally:
            self._main_ready.release()

    def _run(self) -> None:
        try:
            self._open()
        except Exception as exc:  # a bug: raised by take() in the main thread, not lost in this one
            self._error = exc
        finally:
            self._syn_out()
            self._busy.release()

    def _syn_out(self) -> None:
        """Let the main thread go on (once; from the dial's thread only)."""
        if not self._syn_released:
            self._syn_released = True
            self._syn.release()

    def _open(self) -> None:
        try:
            sock = _secured(self._connect(), self._secure, self._host)
        except (OSError, SmallestError) as exc:
            # Raised by take(), so that a connection that cannot work (refused, an untrusted
            # certificate) is tried once, not once here and once more by the transport.
            self._error = exc
            return
        except ValueError:  # not a host name: the transport reports it in its own words
            return
        with self._lock:
            upgrade = None if self._taken else self._upgrade
            if upgrade is None:
                self._publish(sock)
                return
        # Written before the socket is published, so that close() never closes it mid-write.
        if _written(sock, upgrade):  # else it is closed: the transport connects anew
            with self._lock:
                self._publish(sock)
                self._sent = upgrade

    def _publish(self, sock: socket.socket) -> None:
        """Hand on `sock` to take(); closed instead when it was taken (or closed) meanwhile."""
        if self._taken:
            sock.close()
            return
        self._sock = sock
        self._opened = time.monotonic()

    def _connect(self) -> socket.socket:
        """TCP to the first address, with the TLS context (loading a CA bundle takes tens of
        milliseconds, without the interpreter lock) made while the SYN is out; the other
        addresses, as `socket.create_connection` tries them, when the first fails."""
        # An ASCII name as bytes: as str it goes through the idna codec, whose import (stringprep,
        # unicodedata) comes before the SYN.
        host = self._host.encode() if self._host.isascii() else self._host
        first = _socket.getaddrinfo(host, self._port, 0, _socket.SOCK_STREAM)[0]
        family, kind, proto, _, address = first
        raw = _socket.socket(family, kind, proto)
        try:
            raw.setblocking(False)
            raw.connect_ex(address)
            self._syn_out()
        except BaseException:
            raw.close()
            raise
        with self._main_ready:
            pass
        import select
        import socket

        sock = socket.socket(family, kind, proto, fileno=raw.detach())
        try:
            if self._secure:
                _client_context()
            sock.settimeout(self._timeout)
            _, writable, _ = select.select([], [sock], [], self._timeout)
            if not writable:
                raise TimeoutError("timed out")
        except BaseException:
            sock.close()
            raise
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            return sock
        sock.close()
        return socket.create_connection((self._host, self._port), timeout=self._timeout)

    def upgrade(self, upgrade: Upgrade) -> None:
        """Write `upgrade` on the socket as soon as TLS is up: now when it is, else from the dial's
        thread when it gets there. Once only, and only for this dial's host; nothing is written
        on a socket taken already. Call it from the thread that takes and closes the dial."""
        if not self._serves(upgrade.url):
            return
        with self._lock:
            if self._taken or self._upgrade is not None:
                return
            self._upgrade = upgrade
            sock = self._sock  # None while the dial's thread is at work: it writes then
        if sock is not None:
            if _written(sock, upgrade):
                self._sent = upgrade
            else:  # the transport connects anew
                self._sock = None

    def upgraded(self, url: str) -> Upgrade | None:
        """The upgrade for `url` written on the socket `take()` handed out, whose answer is then
        the first thing the server sends on it; None when none was."""
        sent = self._sent
        return sent if sent is not None and sent.url == url else None

    def take(self, url: str) -> Any:
        """The open socket when `url` (ws/wss/http/https) is on the dialled host, waiting for the
        handshakes if need be; None when it is for another host or already taken. The first
        caller gets the dial's error instead, as if it had connected itself."""
        if not self._serves(url):
            return None
        with self._busy:
            pass
        with self._lock:
            if self._taken:
                return None
            self._taken = True
            sock, self._sock = self._sock, None
        if self._error is not None:
            raise self._error
        if sock is not None and self._stale(sock, url):
            sock.close()  # the transport connects anew
            self._sent = None
            return None
        return sock

    def _serves(self, url: str) -> bool:
        """`url` (ws/wss/http/https) is on the dialled scheme, host and port."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        secure = parts.scheme in ("https", "wss")
        try:
            port = parts.port or (443 if secure else 80)
        except ValueError:
            return False
        return (secure, parts.hostname, port) == (self._secure, self._host, self._port)

    def _stale(self, sock: socket.socket, url: str) -> bool:
        """Unused for too long, closed by the server, or upgraded for another URL."""
        if time.monotonic() - self._opened > MAX_IDLE_S:
            return True
        sent = self._sent
        if sent is not None:  # the upgrade's answer may have made it readable already
            return sent.url != url
        return _closed(sock)

    def close(self) -> None:
        """Close the socket if nobody took it (the thread closes one it finishes later)."""
        with self._lock:
            self._taken = True
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def address_of(url: str) -> tuple[bool, str, int] | None:
    """(secure, host, port) of an http(s) or ws(s) URL, as `urlsplit` reads them (tests check
    that; not an IPv6 zone's case, nor tabs and newlines urlsplit drops), or None when there is
    no host: read with string methods, as urllib.parse (with collections and ipaddress) would be
    imported before the SYN. The socket is handed out only to a URL that `urlsplit` finds on the
    same address (`_serves`): a reading that differs costs an unused connection, nothing else."""
    scheme, sep, rest = url.partition("://")
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rpartition("@")[2]
    if netloc.startswith("["):
        end = netloc.find("]")
        host, tail = (netloc[1:end], netloc[end + 1 :]) if end > 0 else ("", "")
    else:
        cut = netloc.find(":")
        host, tail = (netloc, "") if cut < 0 else (netloc[:cut], netloc[cut:])
    digits = tail[1:]
    port_ok = tail[:1] in ("", ":") and (not digits or digits.isascii() and digits.isdigit())
    if not sep or not host or not port_ok:
        return None
    secure = scheme.lower() in ("https", "wss")
    port = int(digits or 0) or (443 if secure else 80)
    return (secure, host.lower(), port) if port <= 65535 else None


def open_socket(secure: bool, host: str, port: int, timeout: float) -> socket.socket:
    """A connection to host:port, over TLS when `secure`, as the dial makes it (in the caller's
    thread, with no early start)."""
    import socket

    return _secured(socket.create_connection((host, port), timeout=timeout), secure, host)


def _secured(sock: socket.socket, secure: bool, host: str) -> socket.socket:
    """`sock` with Nagle off (requests are single small writes), wrapped in TLS when `secure`, and
    blocking with no timeout from now on; closed when that fails."""
    try:
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, True)
        if secure:
            sock = _client_context().wrap_socket(sock, server_hostname=host)
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    return sock


def _written(sock: socket.socket, upgrade: Upgrade) -> bool:
    """`upgrade` written on `sock`; False, and the socket closed, when the server reset it."""
    try:
        sock.sendall(upgrade.request)
    except OSError:
        sock.close()
        return False
    return True


def _client_context() -> ssl.SSLContext:
    from smallest_cli.transports.tls import client_ssl_context

    return client_ssl_context()


def _closed(sock: socket.socket) -> bool:
    """The server closed (or reset) a plain TCP socket that has carried nothing yet: it is
    readable. (A TLS socket may be readable with a session ticket: only its age is checked.)"""
    if hasattr(sock, "version"):  # ssl.SSLSocket
        return False
    import select

    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)
