"""Dashboard fixtures: TOTP operators, verified sessions, a real daphne, the bridge, Chromium.

Browser tests use Debian's ``chromium`` through Playwright's ``executable_path``
(``playwright install`` cannot download browsers here). When ``/usr/bin/chromium`` is
missing the session installs it with apt-get if we are root, and skips with the reason
otherwise. Servers run as real processes on loopback against this run's test database,
Redis namespace and NATS subjects.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.test import Client
from django_otp.oath import totp

from governance.operators import operator_upsert

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"
PASSWORD = "correct horse battery staple"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


def totp_now(secret: str = SECRET) -> str:
    return f"{totp(base64.b32decode(secret)):06d}"


def artifacts_dir() -> Path:
    """Where screenshots and server logs go (kept after the run)."""
    base = Path(os.environ.get("CIO_TEST_ARTIFACTS", str(settings.VAR_DIR / "test-artifacts")))
    path = base / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Operator:
    username: str
    password: str
    secret: str


@pytest.fixture
def operator(transactional_db: None) -> Operator:
    """A staff superuser with a confirmed TOTP device (as ``create_operator`` makes)."""
    name = f"ops-{uuid.uuid4().hex[:6]}"
    operator_upsert(username=name, password=PASSWORD, totp_secret_b32=SECRET, superuser=True)
    return Operator(name, PASSWORD, SECRET)


def otp_login(client: Client, op: Operator) -> None:
    """Password + TOTP on /accounts/login/ (what a person does)."""
    client.get("/accounts/login/")
    response = client.post("/accounts/login/?next=/dashboard/", {
        "username": op.username, "password": op.password, "otp_token": totp_now(op.secret),
        "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 302, response.content[:2000]
    assert response["Location"] == "/dashboard/"


@pytest.fixture
def otp_client(operator: Operator) -> Client:
    """A browser-like client (CSRF enforced) whose session passed the TOTP step."""
    client = Client(enforce_csrf_checks=True)
    otp_login(client, operator)
    return client


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_database_url() -> str:
    """This run's test database (pytest-django renamed it) as a URL for child processes."""
    db = settings.DATABASES["default"]
    auth = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return (f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/"
            f"{db['NAME']}")


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": children_database_url(), "CIO_LOG_FORMAT": "text",
           "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


class Proc:
    """A child process with its output in the artifacts directory."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.base = ""
        self.log_path = artifacts_dir() / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()

    def tail(self, n: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        return ""


def wait_http(url: str, proc: Proc, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not answer {url}:\n{proc.tail()}")


def _close_child_connections() -> None:
    """Close what threads and child processes left open, so the test database can be dropped.

    ``database_sync_to_async`` (the consumer) and request threads keep persistent
    connections (``conn_max_age``) on asgiref's sync thread; child processes are gone."""
    from asgiref.sync import SyncToAsync
    from django.db import connection, connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture(autouse=True)
def _release_db_connections(request: pytest.FixtureRequest) -> Iterator[None]:
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or bool(
        marker and marker.kwargs.get("transaction"))
    if not transactional:
        yield
        return
    request.getfixturevalue("transactional_db")  # so this teardown runs before its flush
    yield
    _close_child_connections()


@pytest.fixture
def web_process(transactional_db: None) -> Iterator[Proc]:
    """``daphne cio_site.asgi:application`` (HTTP + websockets) on a free loopback port."""
    port = free_port()
    proc = Proc("daphne", [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                           "cio_site.asgi:application"], child_env())
    proc.base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{proc.base}/accounts/login/", proc)
        yield proc
    finally:
        proc.stop()
        _close_child_connections()


@pytest.fixture
def web_server(web_process: Proc) -> str:
    return web_process.base


@pytest.fixture
def bridge_process(transactional_db: None) -> Iterator[Proc]:
    """``manage.py run_dashboard_bridge`` as deployed (a 0.1 s tick keeps tests quick)."""
    proc = Proc("bridge", [sys.executable, "manage.py", "run_dashboard_bridge", "--tick", "0.1"],
                child_env())
    deadline = time.monotonic() + 20
    while "dashboard bridge started" not in proc.tail(200):
        if not proc.alive() or time.monotonic() > deadline:
            proc.stop()
            raise RuntimeError(f"bridge did not start:\n{proc.tail()}")
        time.sleep(0.1)
    yield proc
    proc.stop()


# -- Chromium ----------------------------------------------------------------------------------
# ``chromium_path`` (session fixture) lives in tests/support/chromium.py, shared with the
# earnings report's browser tests.


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=chromium_path, headless=True,
                                            args=CHROMIUM_FLAGS)
        try:
            yield instance
        finally:
            await instance.close()


async def browser_login(page: Any, base: str, op: Operator) -> None:
    """The login a person does: /dashboard/ -> /accounts/login/ -> password + TOTP."""
    await page.goto(f"{base}/dashboard/")
    assert "/accounts/login/" in page.url
    await page.fill("#id_username", op.username)
    await page.fill("#id_password", op.password)
    await page.fill("#id_otp_token", totp_now(op.secret))
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    assert page.url.rstrip("/").endswith("/dashboard"), page.url
