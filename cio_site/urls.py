"""URL configuration: admin (TOTP-protected), the governance API and the operational endpoints.

``/mcp`` is not a Django URL: ``cio_site.asgi`` routes it to the MCP server.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from governance.admin_site import install_otp_admin
from governance.api import api

install_otp_admin()

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
