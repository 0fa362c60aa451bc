"""The fixed command-line interface: strategist_cycle --once [--json] and regime_replay."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from strategist.models import LadderStep, StrategistCycle
from tests.strategist.conftest import proposal
from tests.strategist.llm_server import LLMServer, Reply


@pytest.mark.django_db
def test_cycle_once_json_with_the_default_rules_brain(redis_client: Any) -> None:
    out = StringIO()
    call_command("strategist_cycle", "--once", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["provider"] == "rules" and data["status"] == "no_change"
    assert data["verdict"]["approved"] is True
    assert data["proposal"]["patches"] == []
    assert StrategistCycle.objects.count() == 1


@pytest.mark.django_db
def test_cycle_once_human_output_shows_refusal_and_alerts(llm: LLMServer,
                                                          redis_client: Any) -> None:
    llm.push(Reply(text=proposal(patches=[{"scope": "global", "patch": {"moon_mode": True}}])))
    out = StringIO()
    call_command("strategist_cycle", "--once", stdout=out)
    text = out.getvalue()
    assert "refused" in text and "REFUSED" in text
    assert "CONFIG_INVALID" in text
    assert "alert raised: strategist_refusal" in text


@pytest.mark.django_db(transaction=True)
def test_regime_replay_local_drives_the_ladder(redis_client: Any) -> None:
    out = StringIO()
    call_command("regime_replay", "--via", "local", "--start", "2021-05-19T06:00:00+00:00",
                 "--end", "2021-05-19T13:30:00+00:00", "--warmup-start",
                 "2021-05-12T00:00:00+00:00", stdout=out)
    summary = json.loads(out.getvalue())
    assert [c["state"] for c in summary["crossings"]] == ["REDUCING", "HALTED"]
    assert summary["final_state"] == "HALTED"
    assert summary["regime"]["BTCUSDT"]["volatility_phase"] == "extreme"
    assert LadderStep.objects.filter(step="halt").exists()
