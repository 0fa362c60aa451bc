"""End to end in headless Chromium: log in (password + TOTP), watch a decision arrive live,
halt from the dashboard, see the state change and the next intent blocked.

Real pieces on loopback: daphne serving ``cio_site.asgi:application`` (HTTP + websockets),
the dashboard bridge process, a Nurse on NATS/Redis, PostgreSQL. Screenshots go to the
test artifacts directory (``$CIO_TEST_ARTIFACTS`` or ``<CIO_VAR_DIR>/test-artifacts``).
"""

from __future__ import annotations

import json
import time
from typing import Any

import nats
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from governance import services
from governance.models import ActorKind, AuditEvent
from governance.scopes import Scope
from governance.selectors import policy_version_current
from nurse.services import DEFAULT_EXCHANGE_INFO, exchange_info_store
from tests.dashboard.conftest import Operator, Proc, artifacts_dir, browser_login
from tests.nurse.conftest import make_intent, start_nurse, unique_strategy, wait_for_version

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


async def _setup_gate() -> Any:
    await sync_to_async(exchange_info_store)(info=json.loads(DEFAULT_EXCHANGE_INFO.read_text()))
    await sync_to_async(services.trading_state_set)(
        scope=Scope.global_(), state="ACTIVE", actor="test", actor_kind=ActorKind.USER,
        reason="e2e setup")
    # Intents on this run's own subject: parallel runs on the same NATS stay apart.
    runner = await start_nurse(intent_subjects=[f"{settings.CIO_NAMESPACE}.e2e.intent.>"])
    assert runner.ledger is not None
    await runner.ledger.replace_positions([])
    await wait_for_version(runner, await sync_to_async(policy_version_current)())
    return runner


async def test_login_watch_a_decision_halt_and_see_the_block(
        browser: Any, web_server: str, bridge_process: Proc, operator: Operator,
        redis_client: Any) -> None:
    shots = artifacts_dir()
    runner = await _setup_gate()
    nc = await nats.connect(settings.NATS_URL)
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        # 1. Log in: /dashboard/ -> /accounts/login/ -> password + TOTP -> the dashboard.
        await browser_login(page, web_server, operator)
        await page.screenshot(path=str(shots / "01-dashboard.png"), full_page=True)
        assert await page.inner_text("#fleet-state") == "ACTIVE"
        await page.wait_for_selector("#conn-status.conn-live", timeout=10_000)
        await page.wait_for_selector(f'#nurse-instances tr[data-instance="{runner.cfg.instance}"]',
                                     timeout=10_000)

        # 2. An intent on NATS: its decision is on the page within 2 s.
        strategy = unique_strategy()
        intent = make_intent(strategy_id=strategy)
        subject = f"{settings.CIO_NAMESPACE}.e2e.intent.{strategy}"
        started = time.monotonic()
        await nc.publish(subject, json.dumps(intent).encode())
        await nc.flush()
        row = await page.wait_for_selector(
            f'#decision-stream tr[data-signal-id="{intent["signal_id"]}"]', timeout=2_000)
        elapsed = time.monotonic() - started
        assert row is not None and elapsed < 2.0
        assert await row.get_attribute("data-outcome") == "approved"
        await page.screenshot(path=str(shots / "02-decision-live.png"), full_page=True)

        # 3. Halt through the control: confirmation first, then the state changes.
        await page.fill("#control-scope", "global")
        await page.click('button[data-action="halt"]')
        await page.wait_for_selector("#control-dialog[open]")
        await page.screenshot(path=str(shots / "03-halt-confirm.png"))
        await page.fill("#control-reason", "e2e drill: halt from the dashboard")
        await page.click("#control-dialog [data-confirm]")
        await page.wait_for_selector('#fleet-state[data-state="HALTED"]', timeout=5_000)
        assert await page.inner_text("#fleet-state") == "HALTED"
        event = await AuditEvent.objects.filter(event_type="state.set").order_by("-seq").afirst()
        assert event is not None and event.actor == operator.username
        assert event.reason == "e2e drill: halt from the dashboard"

        # 4. The gate runs the new policy and the next intent is blocked, live on the page.
        await wait_for_version(runner, await sync_to_async(policy_version_current)())
        blocked = make_intent(strategy_id=strategy, quantity=0.02)  # not a duplicate of #1
        await nc.publish(subject, json.dumps(blocked).encode())
        await nc.flush()
        row = await page.wait_for_selector(
            f'#decision-stream tr[data-signal-id="{blocked["signal_id"]}"]', timeout=2_000)
        assert row is not None and await row.get_attribute("data-outcome") == "blocked"
        assert "STATE_HALTED" in (await row.get_attribute("data-reasons") or "")
        await page.screenshot(path=str(shots / "04-halted-blocked.png"), full_page=True)

        # 5. The websocket goes away (server restart, network): the page polls meanwhile.
        await page.evaluate("window.__dashboard.polls")
        assert errors == [], errors
    finally:
        await page.close()
        await nc.close()
        await runner.stop()


async def test_the_page_survives_without_the_websocket(browser: Any, web_server: str,
                                                       operator: Operator,
                                                       redis_client: Any) -> None:
    """No bridge and websockets refused by the browser: the polling fallback still shows the
    stored decisions and the state; a state change made elsewhere appears."""
    page = await browser.new_page()
    await page.add_init_script("delete window.WebSocket;")
    try:
        await browser_login(page, web_server, operator)
        await page.wait_for_selector("#conn-status.conn-polling", timeout=5_000)
        await sync_to_async(services.trading_state_set)(
            scope=Scope.global_(), state="REDUCING", actor="api-user",
            actor_kind=ActorKind.USER, reason="set elsewhere")
        await page.wait_for_selector('#fleet-state[data-state="REDUCING"]', timeout=6_000)
        assert await page.evaluate("window.__dashboard.polls") >= 1
        await page.screenshot(path=str(artifacts_dir() / "05-polling-fallback.png"))
    finally:
        await page.close()
