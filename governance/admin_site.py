"""The admin requires a verified second factor (TOTP) for every staff session."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


# django-otp ships no type information, so its classes are Any to mypy.
class CioOTPLoginForm(OTPAdminAuthenticationForm):  # type: ignore[misc]
    """Password + TOTP on one page: a user's only confirmed device needs no selection."""

    def _chosen_device(self, user: Any) -> Any:
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True, for_verify=True))
            if len(devices) == 1:
                device = devices[0]
        return device


class CioAdminSite(OTPAdminSite):  # type: ignore[misc]
    site_header = "Petrosa CIO governance"
    site_title = "Petrosa CIO"
    index_title = "Governance"
    login_form = CioOTPLoginForm


def install_otp_admin() -> None:
    """Swap the default admin site's class so every registered ModelAdmin needs OTP."""
    if not isinstance(admin.site, CioAdminSite):
        admin.site.__class__ = CioAdminSite
        admin.site.login_form = CioAdminSite.login_form
        admin.site.login_template = CioAdminSite.login_template
