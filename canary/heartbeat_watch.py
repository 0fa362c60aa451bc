#!/usr/bin/env python3
"""Out-of-band heartbeat watcher for the CIO, run from cron, a CI schedule or a serverless job.

One self-contained, standard-library-only file on purpose: it runs outside the cluster and
must not depend on anything the cluster provides (no Django, no NATS client, no database).

Each invocation is one check:

1. GET the CIO health endpoint (CIO_HEALTH_URL); any 2xx is "up".
2. If WATCH_NATS_URL is set and the server accepts a connection, send a request on
   ``cio.heartbeat`` and expect a JSON reply with ``"service": "petrosa-cio"`` and a
   ``status``. An unreachable NATS is not a miss: from outside the cluster it usually is.
3. Count consecutive misses in a small JSON state file. When the count reaches
   WATCH_MISSES_BEFORE_ALERT, alert once by e-mail and/or webhook, straight from here; when a
   check succeeds after an alert, send a recovery notice.
4. Print a JSON report on stdout and a one-line summary on stderr.

Exit codes: 0 up, 1 down (miss recorded), 2 configuration error, 3 down and no alert channel
could deliver the due alert (the next run retries).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import secrets
import smtplib
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, TextIO

EXIT_UP = 0
EXIT_DOWN = 1
EXIT_CONFIG = 2
EXIT_ALERT_FAILED = 3

USER_AGENT = "petrosa-canary-heartbeat-watch/1"
_TLS_MODES = {"starttls", "ssl", "none"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(Exception):
    """Bad or missing configuration."""


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def _secret(env: Mapping[str, str], name: str) -> str | None:
    direct = env.get(name, "")
    file_path = env.get(f"{name}_FILE", "")
    if direct and file_path:
        raise ConfigError(f"set only one of {name} and {name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise ConfigError(f"{name}_FILE cannot be read: {exc.strerror}") from exc
    return direct.strip() or None


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not an integer") from exc
    if value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc
    if value != value or value < minimum:
        raise ConfigError(f"{name}={raw!r} is out of range")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _http_url(name: str, value: str) -> str:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{name} must be an http(s) URL")
    return value


@dataclass(frozen=True)
class SmtpSettings:
    """Direct SMTP delivery, independent of the CIO's own alert channels."""

    host: str
    port: int
    tls: str
    user: str | None
    password: str | None = field(repr=False)
    sender: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    """All watcher settings, validated once."""

    health_url: str
    nats_url: str | None
    nats_subject: str
    expect_service: str
    misses_before_alert: int
    state_path: Path
    timeout_s: float
    environment: str
    smtp: SmtpSettings | None
    webhook_url: str | None = field(repr=False)


def _smtp_tls(env: Mapping[str, str]) -> str:
    raw = env.get("WATCH_SMTP_TLS", "").strip().lower() or "starttls"
    # Booleans are accepted because "TLS on/off" is how most people read the variable name.
    if raw in _TRUE:
        return "starttls"
    if raw in _FALSE:
        return "none"
    if raw not in _TLS_MODES:
        raise ConfigError("WATCH_SMTP_TLS must be starttls, ssl, none (or true/false)")
    return raw


def _load_smtp(env: Mapping[str, str]) -> SmtpSettings | None:
    host = env.get("WATCH_SMTP_HOST", "").strip()
    recipients = tuple(
        r.strip() for r in env.get("WATCH_ALERT_EMAIL_TO", "").split(",") if r.strip()
    )
    if not host and not recipients:
        return None
    if not host or not recipients:
        raise ConfigError("e-mail alerts need both WATCH_SMTP_HOST and WATCH_ALERT_EMAIL_TO")
    tls = _smtp_tls(env)
    port = _int(env, "WATCH_SMTP_PORT", {"ssl": 465, "starttls": 587, "none": 25}[tls], minimum=1)
    user = env.get("WATCH_SMTP_USER", "").strip() or None
    password = _secret(env, "WATCH_SMTP_PASSWORD")
    if user and password is None:
        raise ConfigError("WATCH_SMTP_USER is set but WATCH_SMTP_PASSWORD(_FILE) is not")
    if user and tls == "none" and not _is_loopback(host):
        # Refuse to send the password in clear text across a network.
        raise ConfigError("SMTP login without TLS is only allowed to a loopback host")
    sender = env.get("WATCH_SMTP_FROM", "").strip() or user or "cio-heartbeat-watch@localhost"
    return SmtpSettings(
        host=host,
        port=port,
        tls=tls,
        user=user,
        password=password,
        sender=sender,
        recipients=recipients,
    )


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read and validate the WATCH_* / CIO_HEALTH_URL environment."""
    health_url = env.get("CIO_HEALTH_URL", "").strip()
    if not health_url:
        raise ConfigError(
            "CIO_HEALTH_URL is required (e.g. https://cio.example.com/api/v1/health/live)"
        )
    _http_url("CIO_HEALTH_URL", health_url)
    webhook = _secret(env, "WATCH_WEBHOOK_URL")
    if webhook is not None:
        _http_url("WATCH_WEBHOOK_URL", webhook)
    smtp = _load_smtp(env)
    if smtp is None and webhook is None:
        raise ConfigError(
            "no alert channel: set WATCH_WEBHOOK_URL and/or WATCH_SMTP_HOST with "
            "WATCH_ALERT_EMAIL_TO"
        )
    return Settings(
        health_url=health_url,
        nats_url=env.get("WATCH_NATS_URL", "").strip() or None,
        nats_subject=env.get("WATCH_NATS_SUBJECT", "").strip() or "cio.heartbeat",
        expect_service=env.get("WATCH_EXPECT_SERVICE", "").strip() or "petrosa-cio",
        misses_before_alert=_int(env, "WATCH_MISSES_BEFORE_ALERT", 3, minimum=1),
        state_path=Path(env.get("WATCH_STATE_FILE", "") or "./heartbeat-watch-state.json"),
        timeout_s=_float(env, "WATCH_TIMEOUT_S", 10.0, minimum=0.1),
        environment=env.get("WATCH_ENVIRONMENT", "").strip()
        or (urllib.parse.urlsplit(health_url).hostname or "cio"),
        smtp=smtp,
        webhook_url=webhook,
    )


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one probe: ok, miss, unreachable (NATS only) or skipped."""

    state: str
    detail: str
    latency_ms: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "detail": self.detail, "latency_ms": self.latency_ms}


def check_health(url: str, timeout_s: float) -> CheckResult:
    """Any 2xx is up; anything else (status, timeout, TLS, DNS) is a miss."""
    started = time.monotonic()
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) checked at load
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:  # noqa: S310 - as above
            body = resp.read(4096)
            status = resp.status
    except urllib.error.HTTPError as exc:
        return CheckResult("miss", f"HTTP {exc.code}", _elapsed_ms(started))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return CheckResult("miss", f"unreachable: {reason}", _elapsed_ms(started))
    detail = f"HTTP {status}"
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        payload = json.loads(body.decode("utf-8"))
        if isinstance(payload, dict) and "status" in payload:
            detail += f" status={payload['status']}"
    return CheckResult("ok", detail, _elapsed_ms(started))


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


class NatsUnreachable(OSError):
    """No NATS server accepted the connection."""


class NoResponders(Exception):
    """The server reports that nobody subscribes to the subject."""


def _read_line(sock: socket.socket | ssl.SSLSocket, buffer: bytearray, deadline: float) -> bytes:
    while b"\r\n" not in buffer:
        _arm_timeout(sock, deadline)
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("NATS server closed the connection")
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\r\n")
    buffer[:] = rest
    return line


def _read_exact(
    sock: socket.socket | ssl.SSLSocket, buffer: bytearray, size: int, deadline: float
) -> bytes:
    while len(buffer) < size:
        _arm_timeout(sock, deadline)
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("NATS server closed the connection")
        buffer += chunk
    data = bytes(buffer[:size])
    del buffer[:size]
    return data


def _arm_timeout(sock: socket.socket | ssl.SSLSocket, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("timed out waiting for NATS")
    sock.settimeout(remaining)


def nats_request(url: str, subject: str, payload: bytes, timeout_s: float) -> bytes:
    """Request/reply over the NATS text protocol with a raw socket (no client library).

    Raises NatsUnreachable when no server takes the connection, NoResponders when the server
    says nobody listens, TimeoutError when no reply arrives in time.
    """
    parts = urllib.parse.urlsplit(url if "://" in url else f"nats://{url}")
    host, port = parts.hostname or "127.0.0.1", parts.port or 4222
    deadline = time.monotonic() + timeout_s
    try:
        raw = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise NatsUnreachable(f"{host}:{port}: {exc}") from exc
    sock: socket.socket | ssl.SSLSocket = raw
    buffer = bytearray()
    try:
        try:
            greeting = _read_line(sock, buffer, deadline)
            if not greeting.startswith(b"INFO "):
                raise NatsUnreachable(f"{host}:{port}: not a NATS server")
            info = json.loads(greeting[5:])
        except (OSError, ValueError) as exc:
            raise NatsUnreachable(f"{host}:{port}: {exc}") from exc
        if parts.scheme == "tls" or info.get("tls_required"):
            sock = ssl.create_default_context().wrap_socket(raw, server_hostname=host)
            buffer.clear()
        headers = bool(info.get("headers"))
        options: dict[str, Any] = {
            "verbose": False,
            "pedantic": False,
            "lang": "python-raw",
            "version": "1",
            "protocol": 1,
            "name": "cio-heartbeat-watch",
            # Lets the server answer "no responders" at once instead
            # of leaving us to wait for the timeout.
            "headers": headers,
            "no_responders": headers,
        }
        if parts.username and parts.password is not None:
            options["user"] = urllib.parse.unquote(parts.username)
            options["pass"] = urllib.parse.unquote(parts.password)
        elif parts.username:
            options["auth_token"] = urllib.parse.unquote(parts.username)
        inbox = f"_INBOX.{secrets.token_hex(11)}"
        sock.sendall(
            b"CONNECT "
            + json.dumps(options).encode()
            + b"\r\n"
            + f"SUB {inbox} 1\r\nUNSUB 1 1\r\n".encode()
            + f"PUB {subject} {inbox} {len(payload)}\r\n".encode()
            + payload
            + b"\r\n"
            + b"PING\r\n"
        )
        while True:
            line = _read_line(sock, buffer, deadline)
            if line == b"PING":
                sock.sendall(b"PONG\r\n")
                continue
            if line in {b"PONG", b"+OK"}:
                continue
            if line.startswith(b"-ERR"):
                raise ConnectionError(line.decode(errors="replace"))
            fields = line.split()
            if fields and fields[0] == b"MSG":
                data = _read_exact(sock, buffer, int(fields[-1]) + 2, deadline)
                return data[:-2]
            if fields and fields[0] == b"HMSG":
                header_len, total_len = int(fields[-2]), int(fields[-1])
                data = _read_exact(sock, buffer, total_len + 2, deadline)
                status_line = data[:header_len].split(b"\r\n", 1)[0]
                if status_line.startswith(b"NATS/1.0 503"):
                    raise NoResponders(subject)
                return data[header_len:total_len]
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def check_nats_heartbeat(settings: Settings) -> CheckResult:
    """Ask the CIO for its heartbeat over NATS; an unreachable server is not held against it."""
    if settings.nats_url is None:
        return CheckResult("skipped", "WATCH_NATS_URL not set")
    started = time.monotonic()
    errors = []
    for url in [u.strip() for u in settings.nats_url.split(",") if u.strip()]:
        try:
            reply = nats_request(url, settings.nats_subject, b"", settings.timeout_s)
        except NatsUnreachable as exc:
            errors.append(str(exc))
            continue
        except NoResponders:
            return CheckResult(
                "miss", f"no responders on {settings.nats_subject}", _elapsed_ms(started)
            )
        except (OSError, ValueError) as exc:
            return CheckResult("miss", f"no heartbeat reply: {exc}", _elapsed_ms(started))
        return _judge_reply(reply, settings.expect_service, _elapsed_ms(started))
    return CheckResult("unreachable", "; ".join(errors) or "no NATS URL", _elapsed_ms(started))


def _judge_reply(reply: bytes, expect_service: str, latency_ms: int) -> CheckResult:
    try:
        payload = json.loads(reply.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return CheckResult("miss", "heartbeat reply is not JSON", latency_ms)
    if not isinstance(payload, dict):
        return CheckResult("miss", "heartbeat reply is not a JSON object", latency_ms)
    if payload.get("service") != expect_service:
        return CheckResult(
            "miss", f"heartbeat from unexpected service {payload.get('service')!r}", latency_ms
        )
    if "status" not in payload:
        return CheckResult("miss", "heartbeat reply has no status", latency_ms)
    return CheckResult("ok", f"status={payload['status']}", latency_ms)


# --------------------------------------------------------------------------------------------
# Alert delivery
# --------------------------------------------------------------------------------------------


def send_email(smtp: SmtpSettings, subject: str, body: str, timeout_s: float) -> None:
    """Deliver one plain-text message; raises on any failure."""
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = ", ".join(smtp.recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="cio-heartbeat-watch")
    message.set_content(body)
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.tls == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout_s, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout_s)
    with client:
        client.ehlo()
        if smtp.tls == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if smtp.user and smtp.password is not None:
            client.login(smtp.user, smtp.password)
        client.send_message(message)


def post_webhook(url: str, payload: Mapping[str, Any], timeout_s: float) -> None:
    """POST JSON; "text" makes the body readable by Slack/Mattermost-style incoming hooks."""
    request = urllib.request.Request(  # noqa: S310 - scheme validated in load_settings
        url,
        data=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as resp:  # noqa: S310 - as above
        resp.read(1024)


def deliver(
    settings: Settings, event: str, text: str, details: Mapping[str, Any]
) -> dict[str, str]:
    """Try every configured channel; return per-channel "sent" or the error."""
    results: dict[str, str] = {}
    subject = f"[CIO {settings.environment}] heartbeat {event.upper()}"
    if settings.smtp is not None:
        try:
            body = text + "\n\n" + json.dumps(details, indent=2, default=str) + "\n"
            send_email(settings.smtp, subject, body, settings.timeout_s)
            results["email"] = "sent"
        except (OSError, smtplib.SMTPException) as exc:
            results["email"] = f"failed: {type(exc).__name__}: {exc}"
    if settings.webhook_url is not None:
        payload = {
            "text": f"{subject}: {text}",
            "source": "cio-heartbeat-watch",
            "event": event,
            "environment": settings.environment,
            **details,
        }
        try:
            post_webhook(settings.webhook_url, payload, settings.timeout_s)
            results["webhook"] = "sent"
        except urllib.error.HTTPError as exc:
            results["webhook"] = f"failed: HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            # Never echo the URL: incoming-webhook URLs embed their credential.
            results["webhook"] = f"failed: {type(exc).__name__}"
    return results


# --------------------------------------------------------------------------------------------
# State and main
# --------------------------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def load_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"WATCH_STATE_FILE {path} is unreadable: {exc}") from exc
    if not isinstance(state, dict):
        raise ConfigError(f"WATCH_STATE_FILE {path} does not hold a JSON object")
    return state


def save_state(path: Path, state: Mapping[str, Any]) -> None:
    # Write-then-rename: a half-written file would reset or corrupt the miss count.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run_check(settings: Settings, now: datetime) -> tuple[int, dict[str, Any]]:
    """One watch cycle: probe, update the miss counter, alert or announce recovery."""
    state = load_state(settings.state_path)
    health = check_health(settings.health_url, settings.timeout_s)
    heartbeat = check_nats_heartbeat(settings)
    missed = health.state == "miss" or heartbeat.state == "miss"
    misses = int(state.get("consecutive_misses", 0))
    was_alerted = bool(state.get("alerted", False))
    report: dict[str, Any] = {
        "tool": "heartbeat_watch",
        "environment": settings.environment,
        "checked_at": now.isoformat(),
        "checks": {"health": health.as_json(), "nats_heartbeat": heartbeat.as_json()},
        "threshold": settings.misses_before_alert,
        "alerts": {},
    }
    checks = report["checks"]
    code = EXIT_UP
    if missed:
        misses += 1
        state["last_miss_at"] = now.isoformat()
        code = EXIT_DOWN
        if misses >= settings.misses_before_alert and not was_alerted:
            text = (
                f"{misses} consecutive missed heartbeats; health: {health.detail}; "
                f"nats: {heartbeat.detail}"
            )
            results = deliver(
                settings,
                "down",
                text,
                {"consecutive_misses": misses, "checks": checks, "checked_at": now.isoformat()},
            )
            report["alerts"] = results
            if any(v == "sent" for v in results.values()):
                state["alerted"] = True
                state["alerted_at"] = now.isoformat()
            else:
                code = EXIT_ALERT_FAILED
    else:
        if was_alerted:
            text = f"heartbeat back after {misses} missed checks; health: {health.detail}"
            report["alerts"] = deliver(
                settings,
                "recovered",
                text,
                {"consecutive_misses": 0, "checks": checks, "checked_at": now.isoformat()},
            )
        misses = 0
        state["alerted"] = False
        state["last_ok_at"] = now.isoformat()
    state["consecutive_misses"] = misses
    state["last_checked_at"] = now.isoformat()
    state["last_checks"] = checks
    try:
        save_state(settings.state_path, state)
    except OSError as exc:
        raise ConfigError(
            f"WATCH_STATE_FILE {settings.state_path} cannot be written: {exc}"
        ) from exc
    report.update(
        status="down" if missed else "up",
        consecutive_misses=misses,
        alerted=bool(state.get("alerted")),
        exit_code=code,
    )
    return code, report


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Entry point; returns the exit code so tests can call it in-process."""
    parser = argparse.ArgumentParser(
        prog="heartbeat_watch.py",
        description="Check the CIO from outside the cluster and alert after N missed checks.",
    )
    parser.add_argument(
        "--test-alert",
        action="store_true",
        help="send a test message through every configured channel and exit",
    )
    args = parser.parse_args(argv)
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    environ = os.environ if env is None else env
    now = utc_now()
    try:
        settings = load_settings(environ)
        if args.test_alert:
            results = deliver(
                settings, "test", "test alert from heartbeat_watch", {"checked_at": now.isoformat()}
            )
            code = (
                EXIT_UP
                if results and all(v == "sent" for v in results.values())
                else EXIT_ALERT_FAILED
            )
            report: dict[str, Any] = {
                "tool": "heartbeat_watch",
                "status": "test_alert",
                "alerts": results,
                "exit_code": code,
            }
        else:
            code, report = run_check(settings, now)
    except ConfigError as exc:
        code = EXIT_CONFIG
        report = {
            "tool": "heartbeat_watch",
            "status": "config_error",
            "error": str(exc),
            "exit_code": code,
        }
    print(json.dumps(report, indent=2, default=str), file=out, flush=True)
    checks = report.get("checks", {})
    summary = (
        f"heartbeat_watch: {report['status']} (exit {code})"
        + (
            f"; misses {report.get('consecutive_misses')}/{report.get('threshold')}"
            if "consecutive_misses" in report
            else ""
        )
        + "".join(f"; {name} {c['state']}: {c['detail']}" for name, c in checks.items())
        + "".join(f"; {ch} {res}" for ch, res in report.get("alerts", {}).items())
        + (f"; error: {report['error']}" if "error" in report else "")
    )
    print(summary, file=err, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
