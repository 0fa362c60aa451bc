"""A real HTTP server on loopback speaking the OpenAI chat-completions and Anthropic
messages protocols, with scripted answers and failure modes; it records every request."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: a model text (wrapped in the protocol) or a raw HTTP answer."""

    text: str | None = None
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    usage: tuple[int, int] = (1200, 300)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


class LLMServer:
    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.default = Reply(text="{}")
        self.requests: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                outer.requests.append(Seen(self.path, {k.lower(): v for k, v in
                                                       self.headers.items()}, raw))
                reply = outer.script.popleft() if outer.script else outer.default
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    request = json.loads(raw or b"{}")
                except ValueError:
                    request = {}
                if reply.body is not None or reply.text is None:
                    payload = reply.body if reply.body is not None else {}
                elif self.path.endswith("/chat/completions"):
                    payload = {
                        "id": "chatcmpl-test", "object": "chat.completion",
                        "model": request.get("model", "test-model"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": reply.text}}],
                        "usage": {"prompt_tokens": reply.usage[0],
                                  "completion_tokens": reply.usage[1],
                                  "total_tokens": sum(reply.usage)}}
                elif self.path.endswith("/messages"):
                    payload = {
                        "id": "msg_test", "type": "message", "role": "assistant",
                        "model": request.get("model", "test-model"),
                        "content": [{"type": "text", "text": reply.text}],
                        "stop_reason": "end_turn",
                        "usage": {"input_tokens": reply.usage[0],
                                  "output_tokens": reply.usage[1]}}
                else:
                    payload = {"error": {"type": "not_found", "message": self.path}}
                    reply = Reply(status=404)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def bodies(self) -> list[str]:
        return [r.body.decode("utf-8", "replace") for r in self.requests]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def llm_server() -> Iterator[LLMServer]:
    server = LLMServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.close()
