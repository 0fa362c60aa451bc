"""URL configuration: admin (TOTP-protected), the governance API, the commander dashboard
(``/dashboard/``, operator login at ``/accounts/login/``) and the operational endpoints.

``/mcp`` is not a Django URL: ``cio_site.asgi`` routes it to the MCP server.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from cio_site.metrics import metrics_view
from governance.admin_site import install_otp_admin
from governance.api import api
from governance.dashboard.urls import account_urlpatterns

install_otp_admin()

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Prometheus: the scrape secret or a read-scoped token (docs/security.md).
    path("metrics", metrics_view, name="metrics"),
    path("dashboard/", include("governance.dashboard.urls")),
    path("accounts/", include((account_urlpatterns, "accounts"))),
    path("reports/earnings/", include("nurse.earnings.urls")),
]
