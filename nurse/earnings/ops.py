"""The earnings summary behind the API/MCP operation ``get_earnings_summary``.

``install()`` hands the placeholder operation of ``governance.api.ops.agent`` to
``earnings_summary`` (``governance.api.registry.replace_handler``), so
``GET /api/v1/earnings-summary`` and the MCP tool answer with the same data as the page.
The input may carry ``window_hours`` or the placeholder's ``period`` (day/week/month).
"""

from __future__ import annotations

from typing import Any

from governance.api.registry import Call, Result, replace_handler
from governance.errors import ValidationFailed
from nurse.earnings.selectors import earnings_summary

PERIOD_HOURS = {"day": 24, "week": 168, "month": 720}


def get_earnings_summary(call: Call, args: Any) -> Result:
    hours = getattr(args, "window_hours", None) or PERIOD_HOURS.get(
        str(getattr(args, "period", "week")), 168)
    try:
        data = earnings_summary(window_hours=int(hours),
                                strategy_id=getattr(args, "strategy_id", None))
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="INVALID_WINDOW") from None
    return Result(data)


def install() -> None:
    replace_handler("get_earnings_summary", get_earnings_summary)
