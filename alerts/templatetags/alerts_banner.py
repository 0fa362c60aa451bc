"""``{% alerts_banner %}``: the undelivered-alerts banner for the admin and dashboards."""

from __future__ import annotations

from typing import Any

from django import template

from alerts.selectors import alerts_banner as _alerts_banner

register = template.Library()


@register.inclusion_tag("alerts/banner.html", takes_context=True)
def alerts_banner(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_staff", False):
        return {"show": False}
    health = _alerts_banner()
    pending = health.get("pending_undelivered")
    return {
        "show": bool(health.get("degraded") or pending),
        "degraded": bool(health.get("degraded")),
        "pending": pending,
        "failing": health.get("failing_channels") or {},
        "spooled": health.get("spooled"),
        "database": health.get("database", ""),
    }
