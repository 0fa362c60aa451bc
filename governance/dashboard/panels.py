"""Panel providers: an explicit registry, so features plug into the dashboard as they land.

A provider returns its template's data, or raises ``PanelUnavailable`` (or ``ImportError``
when the feature's module is not deployed) and the panel says "not yet available". Providers
import their feature lazily, inside the function: the dashboard never depends on them.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

logger = logging.getLogger(__name__)


class PanelUnavailable(Exception):
    """The panel's feature is not deployed (or has no data source) here."""


@dataclass(frozen=True, slots=True)
class Panel:
    """One dashboard panel: a title, a fragment template and the function that feeds it."""

    name: str
    title: str
    template: str
    provider: Callable[[], dict[str, Any]]
    feature: str  # named in the "not yet available" note


PANELS: dict[str, Panel] = {}


def register_panel(panel: Panel) -> Panel:
    if panel.name in PANELS:
        raise ValueError(f"panel {panel.name!r} is already registered")
    PANELS[panel.name] = panel
    return panel


def panel_context(name: str) -> dict[str, Any]:
    """``{"panel", "available", "data", "note"}`` for one panel (never raises)."""
    panel = PANELS[name]
    try:
        data = panel.provider()
    except (ImportError, PanelUnavailable) as exc:
        note = str(exc) if isinstance(exc, PanelUnavailable) and str(exc) else \
            f"{panel.feature} is not yet available in this deployment"
        return {"panel": panel, "available": False, "data": {}, "note": note}
    except DatabaseError as exc:
        logger.warning("panel %s: database error %s", name, type(exc).__name__)
        return {"panel": panel, "available": False, "data": {},
                "note": f"{panel.feature}: its data cannot be read right now"}
    except Exception:
        logger.exception("panel %s failed", name)
        return {"panel": panel, "available": False, "data": {},
                "note": f"{panel.feature}: the panel failed (see the server log)"}
    return {"panel": panel, "available": True, "data": data, "note": ""}


# -- providers ---------------------------------------------------------------------------------
# Features are imported by name at call time: absent modules mean "not yet available", and
# the dashboard never imports (nor type-checks against) a feature that has not landed.


def _feature(module: str) -> Any:
    return importlib.import_module(module)


def _strategist_status() -> dict[str, Any]:
    models = _feature("strategist.models")
    selectors = _feature("strategist.selectors")
    last = models.StrategistCycle.objects.order_by("-started_at").first()
    beat = selectors.heartbeat_get()
    return {"heartbeat": beat, "status": (beat or {}).get("status", "UNKNOWN"),
            "last_cycle": {"id": last.pk, "status": last.status, "trigger": last.trigger,
                           "started_at": last.started_at} if last else None,
            "usage": selectors.llm_usage_today()}


def _alerts() -> dict[str, Any]:
    selectors = _feature("alerts.selectors")
    items = selectors.alerts_open(limit=10)
    return {"items": items, "count": len(items), "banner": selectors.alerts_banner()}


def _thresholds() -> dict[str, float]:
    """The drawdown lines: the tighter of the hard gate and the global config (as the
    protection ladder computes them)."""
    from governance.selectors import config_resolve, hard_gates_current

    params = config_resolve().params
    gates = hard_gates_current()

    def pick(name: str, fallback: float) -> float:
        values = [float(v) for v in (gates.get(name), params.get(name))
                  if isinstance(v, int | float) and not isinstance(v, bool) and v > 0]
        return min(values) if values else fallback

    return {"reduce": pick("drawdown_reduce_pct", 0.15), "halt": pick("drawdown_halt_pct", 0.20)}


def _regime() -> dict[str, Any]:
    models = _feature("strategist.models")
    selectors = _feature("strategist.selectors")
    section = selectors.regime_snapshot_section()
    points = list(models.EquityPoint.objects.order_by("-at")[:120])[::-1]
    portfolio = selectors.portfolio_get()
    thresholds = _thresholds()
    drawdown = float(portfolio.get("drawdown") or 0.0) if portfolio.get("known") else None
    return {"symbols": sorted(section.get("symbols", {}).items()),
            "fleet": section.get("fleet", {}), "portfolio": portfolio,
            "thresholds": thresholds, "drawdown": drawdown,
            "drawdown_pct": round(drawdown * 100, 2) if drawdown is not None else None,
            "reduce_pct": round(thresholds["reduce"] * 100, 2),
            "halt_pct": round(thresholds["halt"] * 100, 2),
            "drawdowns": [round(float(p.drawdown), 6) for p in points]}


def _policy() -> dict[str, Any]:
    from governance.dashboard.selectors import policy_overview

    return policy_overview(limit=8)


def _reasoning() -> dict[str, Any]:
    models = _feature("strategist.models")
    selectors = _feature("strategist.selectors")
    ids = list(models.StrategistCycle.objects.order_by("-started_at")
               .values_list("pk", flat=True)[:5])
    return {"cycles": [selectors.cycle_playback(cycle_id=pk) for pk in ids]}


def _shadow() -> dict[str, Any]:
    selectors = _feature("nurse.shadow.selectors")
    end = timezone.now()
    horizon = int(getattr(settings, "SHADOW_REPORT_HORIZON_H", 24))
    summary = selectors.shadow_summary(start=end - dt.timedelta(days=7), end=end,
                                       horizon_h=horizon)
    return {"total": summary["total"], "horizon_h": horizon,
            "by_rule": summary.get("by_rule", [])[:8],
            "pending": selectors.shadow_pending_count()}


def _earnings() -> dict[str, Any]:
    selectors = _feature("nurse.earnings.selectors")
    hours = int(getattr(settings, "EARNINGS_REPORT_WINDOW_H", 168))
    summary = selectors.earnings_summary(window_hours=hours)
    try:
        report_url = reverse("earnings:report-latest")
    except NoReverseMatch:
        report_url = ""
    return {"summary": summary, "hours": hours, "report_url": report_url}


for _panel in (
    Panel("strategist", "Strategist", "dashboard/panels/strategist.html", _strategist_status,
          "the strategist"),
    Panel("alerts", "Open alerts", "dashboard/panels/alerts.html", _alerts, "alerting"),
    Panel("regime", "Regime radar", "dashboard/panels/regime.html", _regime,
          "the strategist's regime radar"),
    Panel("policy", "Policy", "dashboard/panels/policy.html", _policy, "policy history"),
    Panel("reasoning", "Reasoning playback", "dashboard/panels/reasoning.html", _reasoning,
          "the strategist's reasoning playback"),
    Panel("shadow", "Shadow ROI (7 days)", "dashboard/panels/shadow.html", _shadow,
          "shadow ROI"),
    Panel("earnings", "Earnings", "dashboard/panels/earnings.html", _earnings, "earnings"),
):
    register_panel(_panel)
