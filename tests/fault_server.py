"""A misbehaving HTTP upstream for tests: a raw socket server on 127.0.0.1 that answers each
connection with one scripted action (folded headers, broken gzip, a reset mid-body, a slow drip,
a hang, ...), records what it received, and stops by itself when its lifetime ends."""

from __future__ import annotations

import contextlib
import gzip
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

Action = Callable[[socket.socket, "Received", threading.Event], None]


@dataclass(frozen=True)
class Received:
    """One request as the fault server read it (header names lower-cased)."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


def head(status: int = 200, headers: list[tuple[str, str]] | None = None) -> bytes:
    """A status line and header block; `Connection: close` is added so nothing is pooled."""
    lines = [f"HTTP/1.1 {status} X"] + [f"{name}: {value}" for name, value in headers or []]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def send(data: bytes) -> Action:
    """Send `data` as it is, then close the connection normally."""

    def act(conn: socket.socket, request: Received, stop: threading.Event) -> None:
        conn.sendall(data)

    return act


def respond(status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> Action:
    """A well-formed response with a correct Content-Length."""
    return send(head(status, [*(headers or []), ("Content-Length", str(len(body)))]) + body)


def json_ok(text: str = '{"ok": true}') -> Action:
    """200 with a small JSON body."""
    return respond(200, text.encode(), [("Content-Type", "application/json")])


def reset_after(data: bytes) -> Action:
    """Send `data`, then abort the connection with a TCP reset (SO_LINGER 0)."""

    def act(conn: socket.socket, request: Received, stop: threading.Event) -> None:
        conn.sendall(data)
        stop.wait(0.05)  # let the bytes leave before the reset discards the send buffer
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return act


def hang() -> Action:
    """Read nothing more and answer nothing until the client gives up (or the server stops)."""

    def act(conn: socket.socket, request: Received, stop: threading.Event) -> None:
        conn.settimeout(0.1)
        while not stop.is_set():
            try:
                if conn.recv(1024) == b"":
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    return act


def drip(data: bytes, body: bytes, interval: float) -> Action:
    """Send `data` (a head), then `body` one byte every `interval` seconds until the client leaves."""

    def act(conn: socket.socket, request: Received, stop: threading.Event) -> None:
        conn.sendall(data)
        for byte in body:
            if stop.wait(interval):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    return act


def gzipped(payload: bytes) -> bytes:
    """`payload` gzip-compressed (deterministic)."""
    return gzip.compress(payload, mtime=0)


class FaultServer:
    """Answers connection N with `actions[N]` (the last action repeats, or with `cycle` the list
    starts over). Use as a context manager;
    it also stops on its own after `lifetime` seconds, so a failing test never leaves it running.

    With `listening=False` the port is bound but refuses connections until `listen()` is called
    (a connect error that a test can end from an injected sleeper)."""

    def __init__(self, *actions: Action, lifetime: float = 20.0, listening: bool = True, cycle: bool = False) -> None:
        self.actions = list(actions) or [json_ok()]
        self._cycle = cycle
        self.received: list[Received] = []
        self.connections = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._lifetime = lifetime
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, name="fault-server", daemon=True)
        self._listening = listening

    @property
    def origin(self) -> str:
        """The server's origin, to use as the provider's API origin."""
        return f"http://127.0.0.1:{self.port}"

    def listen(self) -> None:
        """Start accepting connections."""
        if not self._thread.is_alive():
            self._sock.listen(16)
            self._thread.start()

    def __enter__(self) -> FaultServer:
        if self._listening:
            self.listen()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop accepting, end running actions and close the socket."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        ends_at = time.monotonic() + self._lifetime
        while not self._stop.is_set() and time.monotonic() < ends_at:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                index = self.connections % len(self.actions) if self._cycle else self.connections
                action = self.actions[min(index, len(self.actions) - 1)]
                self.connections += 1
            threading.Thread(target=self._handle, args=(conn, action), daemon=True).start()
        self._stop.set()

    def _handle(self, conn: socket.socket, action: Action) -> None:
        with conn:
            conn.settimeout(5)
            try:
                received = self._read_request(conn)
            except OSError:
                return
            if received is None:
                return
            with self._lock:
                self.received.append(received)
            with contextlib.suppress(OSError):
                action(conn, received, self._stop)

    @staticmethod
    def _read_request(conn: socket.socket) -> Received | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        raw_head, _, body = data.partition(b"\r\n\r\n")
        request_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return Received(method, target, headers, body)


def chunked(payload: bytes) -> bytes:
    """`payload` as one chunk of a chunked body, with the final empty chunk."""
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"


_CLOSE_TWO_BYTES = b"Content-Length: 2\r\nConnection: close\r\n\r\nhi"
# Answers that are broken in a way the client must notice, by name.
BROKEN_ANSWERS: dict[str, Action] = {
    "crlf-folded-header": send(b"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\n" + _CLOSE_TWO_BYTES),
    "lf-folded-header": send(b"HTTP/1.1 200 OK\r\nX-A: one\n two\r\n" + _CLOSE_TWO_BYTES),
    "nul-in-header": send(b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n" + _CLOSE_TWO_BYTES),
    "bad-gzip": respond(200, b"this is not gzip", [("Content-Encoding", "gzip")]),
    "truncated-gzip": respond(200, gzipped(b'{"ok": true}' * 50)[:30], [("Content-Encoding", "gzip")]),
    "bad-deflate": respond(200, b"this is not deflate", [("Content-Encoding", "deflate")]),
    "encoding-not-asked-for": respond(200, b"\x1b\x00\x00fake", [("Content-Encoding", "br")]),
    "reset-mid-body": reset_after(head(200, [("Content-Length", "1000")]) + b"x" * 10),
    "closed-mid-body": send(head(200, [("Content-Length", "1000")]) + b"x" * 10),
    "bad-chunk": send(head(200, [("Transfer-Encoding", "chunked")]) + b"zz\r\nhi\r\n"),
    "status-999": send(head(999, [("Content-Length", "2")]) + b"hi"),
    "status-101": send(head(101, [("Content-Length", "2")]) + b"hi"),
}
