"""The beat task and the command run the same steps: scan, then mark."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from nurse.models import ShadowMark
from nurse.tasks import shadow_tick_task
from tests.shadow.conftest import RecordFn, utc

pytestmark = pytest.mark.django_db


def test_tick_creates_and_marks(record: RecordFn) -> None:
    record(received=utc(2021, 5, 19, 12, 0), payload={"stop_loss": 38000.0,
                                                      "take_profit": 39200.0})
    assert shadow_tick_task() == {"created": 1, "marked": 4, "completed": 1, "gave_up": 0,
                                  "waiting": 0}
    assert shadow_tick_task()["created"] == 0


def test_command_scan_then_mark(record: RecordFn) -> None:
    record(received=utc(2021, 5, 19, 12, 0), payload={"stop_loss": 38000.0,
                                                      "take_profit": 39200.0})
    out = io.StringIO()
    call_command("mark_shadow", "--scan", stdout=out)
    assert "created: 1" in out.getvalue()
    assert ShadowMark.objects.count() == 0
    call_command("mark_shadow", "--mark", "--sources", "candle_files", stdout=out)
    assert "marked 4 horizons on 1 positions" in out.getvalue()
