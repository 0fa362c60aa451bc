"""heartbeat_watch against loopback HTTP, SMTP (aiosmtpd), webhook and NATS servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.canary.conftest import (
    WATCH_SCRIPT,
    NatsPeer,
    base_env,
    closed_port_url,
    free_port,
    run_script,
    run_watch,
)

SMTP_USER = "watcher@example.test"
SMTP_PASSWORD = "smtp-pass-Zq9-not-for-logs"


class HttpStub:
    """A loopback HTTP server answering every request with a settable status and body."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = b'{"status": "ok"}'
        self.received: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                stub.received.append({"method": self.command, "path": self.path, "body": raw})
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(stub.body)))
                self.end_headers()
                self.wfile.write(stub.body)

            do_GET = do_POST = _reply

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        Thread(target=lambda: self.server.serve_forever(poll_interval=0.05), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def json_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.received if r["method"] == "POST"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MailSink:
    """aiosmtpd handler keeping every delivered message and the logins used."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == (SMTP_USER, SMTP_PASSWORD))


@pytest.fixture
def health() -> Iterator[HttpStub]:
    stub = HttpStub()
    yield stub
    stub.close()


@pytest.fixture
def webhook() -> Iterator[HttpStub]:
    stub = HttpStub()
    stub.body = b"ok"
    yield stub
    stub.close()


@pytest.fixture
def smtp() -> Iterator[tuple[MailSink, int]]:
    sink = MailSink()
    port = free_port()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        authenticator=sink.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield sink, port
    controller.stop()


@pytest.fixture
def watch_env(
    tmp_path: Path, health: HttpStub, webhook: HttpStub, smtp: tuple[MailSink, int]
) -> dict[str, str]:
    password_file = tmp_path / "smtp-password"
    password_file.write_text(SMTP_PASSWORD + "\n")
    env = base_env()
    env.update(
        CIO_HEALTH_URL=f"{health.url}/api/v1/health/live",
        WATCH_STATE_FILE=str(tmp_path / "watch-state.json"),
        WATCH_MISSES_BEFORE_ALERT="3",
        WATCH_TIMEOUT_S="2",
        WATCH_SMTP_HOST="127.0.0.1",
        WATCH_SMTP_PORT=str(smtp[1]),
        WATCH_SMTP_TLS="none",
        WATCH_SMTP_USER=SMTP_USER,
        WATCH_SMTP_PASSWORD_FILE=str(password_file),
        WATCH_ALERT_EMAIL_TO="oncall@example.test, cto@example.test",
        WATCH_WEBHOOK_URL=f"{webhook.url}/hooks/T000/B000/secret-token",
        WATCH_ENVIRONMENT="prod",
    )
    return env


def heartbeat_reply(service: str = "petrosa-cio", status: str = "ok") -> bytes:
    return json.dumps({"service": service, "status": status, "uptime_s": 12}).encode()


def test_up_when_health_and_nats_heartbeat_answer(
    watch_env: dict[str, str],
    health: HttpStub,
    webhook: HttpStub,
    smtp: tuple[MailSink, int],
    nats_url: str,
    nats_peer: NatsPeer,
) -> None:
    requests = nats_peer.respond("cio.heartbeat", lambda _data: heartbeat_reply())
    watch_env["WATCH_NATS_URL"] = nats_url

    result = run_watch([], watch_env)

    assert result.code == 0, result.stderr
    assert result.report["checks"]["health"]["state"] == "ok"
    assert result.report["checks"]["health"]["detail"] == "HTTP 200 status=ok"
    assert result.report["checks"]["nats_heartbeat"] == {
        "state": "ok",
        "detail": "status=ok",
        "latency_ms": result.report["checks"]["nats_heartbeat"]["latency_ms"],
    }
    assert requests == [b""]
    assert health.received[0]["path"] == "/api/v1/health/live"
    assert webhook.received == []
    assert smtp[0].messages == []


def test_alerts_once_after_n_misses_then_announces_recovery(
    watch_env: dict[str, str], health: HttpStub, webhook: HttpStub, smtp: tuple[MailSink, int]
) -> None:
    sink = smtp[0]
    health.status = 503

    codes = [run_watch([], watch_env).code for _ in range(2)]
    assert codes == [1, 1]
    assert webhook.received == []
    assert sink.messages == []

    third = run_watch([], watch_env)
    assert third.code == 1
    assert third.report["alerts"] == {"email": "sent", "webhook": "sent"}
    assert third.report["consecutive_misses"] == 3
    assert len(sink.messages) == 1
    mail = sink.messages[0]
    assert mail["Subject"] == "[CIO prod] heartbeat DOWN"
    assert mail["To"] == "oncall@example.test, cto@example.test"
    assert "3 consecutive missed heartbeats" in mail.get_payload()
    assert sink.logins == [(SMTP_USER, SMTP_PASSWORD)]
    hook = webhook.json_bodies()[0]
    assert hook["event"] == "down"
    assert hook["consecutive_misses"] == 3
    assert hook["text"].startswith("[CIO prod] heartbeat DOWN")

    fourth = run_watch([], watch_env)
    assert fourth.code == 1
    assert fourth.report["alerts"] == {}
    assert len(sink.messages) == 1

    health.status = 200
    recovered = run_watch([], watch_env)
    assert recovered.code == 0
    assert recovered.report["alerts"] == {"email": "sent", "webhook": "sent"}
    assert sink.messages[-1]["Subject"] == "[CIO prod] heartbeat RECOVERED"
    assert webhook.json_bodies()[-1]["event"] == "recovered"
    state = json.loads(Path(watch_env["WATCH_STATE_FILE"]).read_text())
    assert state["consecutive_misses"] == 0
    assert state["alerted"] is False

    for result in (third, fourth, recovered):
        assert SMTP_PASSWORD not in result.stdout + result.stderr
        assert "secret-token" not in result.stdout + result.stderr


def test_success_in_between_resets_the_miss_counter(
    watch_env: dict[str, str], health: HttpStub, webhook: HttpStub
) -> None:
    for status in (503, 503, 200, 503, 503):
        health.status = status
        run_watch([], watch_env)

    assert json.loads(Path(watch_env["WATCH_STATE_FILE"]).read_text())["consecutive_misses"] == 2
    assert webhook.received == []


def test_nats_reachable_but_nobody_answers_is_a_miss(
    watch_env: dict[str, str], nats_url: str
) -> None:
    watch_env.update(WATCH_NATS_URL=nats_url, WATCH_MISSES_BEFORE_ALERT="5")

    result = run_watch([], watch_env)

    assert result.code == 1
    assert result.report["checks"]["health"]["state"] == "ok"
    assert result.report["checks"]["nats_heartbeat"]["state"] == "miss"
    assert "no responders" in result.report["checks"]["nats_heartbeat"]["detail"]


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (heartbeat_reply(service="petrosa-nurse"), "unexpected service"),
        (b'{"service": "petrosa-cio"}', "no status"),
        (b"pong", "not JSON"),
    ],
)
def test_wrong_heartbeat_reply_is_a_miss(
    watch_env: dict[str, str], nats_url: str, nats_peer: NatsPeer, reply: bytes, detail: str
) -> None:
    nats_peer.respond("cio.heartbeat", lambda _data: reply)
    watch_env.update(WATCH_NATS_URL=nats_url, WATCH_MISSES_BEFORE_ALERT="5")

    result = run_watch([], watch_env)

    assert result.code == 1
    assert detail in result.report["checks"]["nats_heartbeat"]["detail"]


def test_unreachable_nats_is_not_held_against_the_cio(watch_env: dict[str, str]) -> None:
    watch_env["WATCH_NATS_URL"] = closed_port_url()

    result = run_script(WATCH_SCRIPT, [], watch_env)

    assert result.code == 0, result.stderr
    assert result.report["checks"]["nats_heartbeat"]["state"] == "unreachable"
    assert "heartbeat_watch: up (exit 0)" in result.stderr


def test_unreachable_health_endpoint_is_a_miss(watch_env: dict[str, str]) -> None:
    watch_env.update(CIO_HEALTH_URL=closed_port_url("http") + "/api/v1/health/live")

    result = run_script(WATCH_SCRIPT, [], watch_env)

    assert result.code == 1
    assert result.report["checks"]["health"]["detail"].startswith("unreachable")


def test_failed_delivery_exits_3_and_is_retried_next_run(
    watch_env: dict[str, str], health: HttpStub, webhook: HttpStub, smtp: tuple[MailSink, int]
) -> None:
    health.status = 500
    webhook.status = 502
    watch_env.update(WATCH_MISSES_BEFORE_ALERT="1", WATCH_SMTP_PORT=str(free_port()))

    failed = run_watch([], watch_env)
    assert failed.code == 3
    assert failed.report["alerts"]["webhook"] == "failed: HTTP 502"
    assert failed.report["alerts"]["email"].startswith("failed: ConnectionRefusedError")
    assert failed.report["alerted"] is False

    webhook.status = 200
    retried = run_watch([], watch_env)
    assert retried.code == 1
    assert retried.report["alerts"]["webhook"] == "sent"
    assert retried.report["alerted"] is True
    assert len(webhook.json_bodies()) == 2


def test_test_alert_goes_through_every_channel(
    watch_env: dict[str, str], webhook: HttpStub, smtp: tuple[MailSink, int]
) -> None:
    result = run_script(WATCH_SCRIPT, ["--test-alert"], watch_env)

    assert result.code == 0, result.stderr
    assert result.report["alerts"] == {"email": "sent", "webhook": "sent"}
    assert smtp[0].messages[0]["Subject"] == "[CIO prod] heartbeat TEST"
    assert webhook.json_bodies()[0]["event"] == "test"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"CIO_HEALTH_URL": ""}, "CIO_HEALTH_URL is required"),
        ({"WATCH_WEBHOOK_URL": "", "WATCH_SMTP_HOST": "", "WATCH_ALERT_EMAIL_TO": ""}, "no alert"),
        ({"WATCH_SMTP_PASSWORD_FILE": ""}, "WATCH_SMTP_PASSWORD"),
        ({"WATCH_SMTP_HOST": "smtp.example.test"}, "without TLS"),
        ({"WATCH_SMTP_TLS": "maybe"}, "WATCH_SMTP_TLS"),
        ({"WATCH_MISSES_BEFORE_ALERT": "0"}, "minimum"),
        ({"CIO_HEALTH_URL": "file:///etc/passwd"}, "http(s)"),
    ],
)
def test_bad_configuration_exits_2(
    watch_env: dict[str, str], health: HttpStub, change: dict[str, str], message: str
) -> None:
    watch_env.update(change)

    result = run_watch([], watch_env)

    assert result.code == 2
    assert message in result.report["error"]
    assert health.received == []
