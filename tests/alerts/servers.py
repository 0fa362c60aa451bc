"""Real servers on loopback that stand in for the outside world: SMTP, HTTP (Grafana,
webhooks, an OTLP collector) and a NATS subscriber. No function is patched anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpSink:
    """An HTTP server whose answer is switchable: ok | fail (503) | reject (400) | ratelimit."""

    server: ThreadingHTTPServer
    requests: list[Recorded] = field(default_factory=list)
    mode: str = "ok"
    retry_after: str = "7"
    ok_body: dict[str, Any] = field(default_factory=lambda: {"message": "ok", "ok": True})

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]


def _handler(sink_box: dict[str, HttpSink]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            sink = sink_box["sink"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            sink.requests.append(Recorded("POST", self.path, dict(self.headers.items()), body))
            headers: dict[str, str] = {}
            if sink.mode == "ok":
                status = 200
                if self.path.startswith("/v1/"):  # OTLP: an empty protobuf answer
                    payload, headers["Content-Type"] = b"", "application/x-protobuf"
                else:
                    payload = json.dumps({**sink.ok_body, "id": len(sink.requests)}).encode()
                    headers["Content-Type"] = "application/json"
            elif sink.mode == "ratelimit":
                status, payload = 429, b'{"ok": false}'
                headers["Retry-After"] = sink.retry_after
            elif sink.mode == "reject":
                status, payload = 400, b"bad request"
            else:
                status, payload = 503, b"service unavailable"
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@contextlib.contextmanager
def http_sink() -> Iterator[HttpSink]:
    box: dict[str, HttpSink] = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(box))
    box["sink"] = sink = HttpSink(server=server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


class SmtpHandler:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    port: int
    handler: SmtpHandler
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@contextlib.contextmanager
def smtp_sink(port: int | None = None, *, start: bool = True) -> Iterator[SmtpSink]:
    sink = SmtpSink(port=port or free_port(), handler=SmtpHandler())
    if start:
        sink.start()
    try:
        yield sink
    finally:
        sink.stop()


class NatsListener:
    """A real NATS subscriber running its own event loop in a thread."""

    def __init__(self, url: str, subject: str) -> None:
        self.messages: queue.Queue[tuple[str, bytes, dict[str, str]]] = queue.Queue()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main(url, subject)),
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("NATS listener did not start")

    async def _main(self, url: str, subject: str) -> None:
        import nats

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        nc = await nats.connect(url, connect_timeout=3)

        async def on_msg(msg: Any) -> None:
            self.messages.put((msg.subject, msg.data, dict(msg.headers or {})))

        await nc.subscribe(subject, cb=on_msg)
        await nc.flush()
        self._ready.set()
        await self._stop.wait()
        await nc.drain()

    def get(self, timeout: float = 5.0) -> tuple[str, bytes, dict[str, str]]:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)
