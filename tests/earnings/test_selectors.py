"""``earnings_summary`` with a week of data and with none."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from nurse.earnings.selectors import earnings_summary

pytestmark = pytest.mark.django_db


def test_summary_of_a_week(week: dt.datetime) -> None:
    s = earnings_summary(window_hours=168, end=week)
    # Fills: -0.15; 0.02*(39200-38700)-0.16 = 9.84; -0.15; 0.01*(38500-39000)-0.15 = -5.15.
    assert s["net_profit"] == {
        "realized": 4.39, "fees": 0.61, "fills": 4,
        "by_strategy": [{"key": "trend-btc", "realized": 4.39}],
        "by_symbol": [{"key": "BTCUSDT", "realized": 4.39}]}
    shadow = s["shadow"]
    assert (shadow["horizon_h"], shadow["positions"], shadow["marked"]) == (24, 2, 2)
    assert (shadow["avoided"], shadow["foregone"], shadow["net"]) == (12.5, 7.75, -4.75)
    assert shadow["fatigue_ratio"] == pytest.approx(7.75 / 4.39, abs=1e-4)
    assert shadow["horizons"]["48h"] == {"marked": 1, "avoided": 20.0, "foregone": 0.0,
                                         "net": -20.0}
    assert s["decisions"]["approved"] == 3
    assert s["decisions"]["blocked"] == 3
    rules = {r["rule"]: r for r in s["top_blocking_rules"]}
    assert rules["config"]["blocks"] == 2
    assert (rules["config"]["avoided"], rules["config"]["foregone"]) == (12.5, 7.75)
    assert rules["gate"]["blocks"] == 1  # the duplicate: blocked, never a shadow
    kinds = [(c["kind"], c["scope"]) for c in s["policy_changes"]]
    assert ("config", "global") in kinds and ("state", "strategy:scalper-btc") in kinds
    config = next(c for c in s["policy_changes"] if c["kind"] == "config")
    assert config["reason"].startswith("Crash week")
    assert config["changes"][0]["parameter"] == "max_position_size_usd"
    assert s["incidents"]["by_severity"] == {"critical": 1}
    assert s["incidents"]["alerts"][0]["message"] == "Nurse n1 silent for 42 s"
    daily = s["series"]["daily"]
    assert len(daily) == 8  # a 168 h window touches 8 calendar days
    assert daily[-1]["cum_actual"] == 4.39
    assert daily[-1]["cum_shadow"] == -4.75


def test_summary_without_data() -> None:
    s = earnings_summary(window_hours=24, end=timezone.now())
    assert s["net_profit"]["realized"] == 0.0
    assert s["shadow"]["positions"] == 0
    assert s["shadow"]["fatigue_ratio"] is None
    assert s["top_blocking_rules"] == s["policy_changes"] == s["incidents"]["alerts"] == []
    assert [row["cum_actual"] for row in s["series"]["daily"]] in ([0.0], [0.0, 0.0])


def test_window_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="window_hours"):
        earnings_summary(window_hours=0)
