"""The auditor's replay of recorded intents under the proposed policy."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.utils import timezone

from nurse.models import DecisionRecord
from strategist.auditor import audit_proposal, replay_effect
from strategist.contracts import PolicyProposal
from strategist.models import RegimeStatus
from tests.nurse.conftest import make_intent
from tests.strategist.conftest import VALID_TRACE

pytestmark = pytest.mark.django_db


def _record(**intent: Any) -> None:
    now = timezone.now()
    payload = make_intent(**intent)
    payload["timestamp"] = (now - dt.timedelta(minutes=5)).isoformat()
    DecisionRecord.objects.create(
        decision_id=uuid.uuid4().hex, strategy_id=payload["strategy_id"],
        symbol=payload["symbol"], action=payload["action"], outcome="approved",
        received_at=now - dt.timedelta(minutes=5), decided_at=now - dt.timedelta(minutes=5),
        payload=payload)


def test_replay_shows_the_effect_of_a_tighter_size_limit(redis_client: Any) -> None:
    for qty in (0.01, 0.02, 0.05, 0.1):  # 500, 1000, 2500, 5000 USD at 50 000
        _record(quantity=qty)
    _record(action="close", quantity=0.1)
    RegimeStatus.objects.create(symbol="BTCUSDT", last_close=45000.0)
    proposal = PolicyProposal(summary="smaller size", thought_trace=VALID_TRACE, confidence=0.6,
                              patches=[{"scope": "global",
                                        "patch": {"max_position_size_usd": 800.0}}])
    effect = replay_effect(proposal=proposal)
    assert effect["intents"] == 5
    assert effect["newly_blocked"] == 1  # the 1000 USD entry (2500 and 5000 already were)
    assert effect["block_rate_after"] > effect["block_rate_before"]
    assert effect["approved_exposure_after"] < effect["approved_exposure_before"]
    # The newly blocked long lost 10% by the latest close: a loss avoided (negative PnL).
    assert effect["shadow_pnl_newly_blocked"] < 0
    assert any(r["code"] == "CONFIG_SIZE_ABOVE_MAX" for r in effect["top_reasons_after"])
    verdict = audit_proposal(proposal)
    assert verdict.approved and verdict.replay["intents"] == 5


def test_a_jump_in_block_rate_can_refuse(redis_client: Any, settings: Any) -> None:
    settings.STRATEGIST_REPLAY_MAX_BLOCK_RATE_INCREASE = 0.1
    for _ in range(4):
        _record()
    proposal = PolicyProposal(summary="no longs", thought_trace=VALID_TRACE, confidence=0.6,
                              patches=[{"scope": "global", "patch": {"enable_longs": False}}])
    verdict = audit_proposal(proposal)
    assert not verdict.approved
    assert verdict.reasons[-1]["code"] == "REPLAY_BLOCK_RATE_JUMP"
