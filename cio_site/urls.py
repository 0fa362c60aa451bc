"""URL configuration: admin (TOTP-protected) and the operational endpoints."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from governance.admin_site import install_otp_admin

install_otp_admin()

urlpatterns = [
    path("admin/", admin.site.urls),
]
