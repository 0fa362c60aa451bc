from __future__ import annotations

from django.apps import AppConfig


class NurseConfig(AppConfig):
    name = "nurse"
    verbose_name = "Nurse (intent gate)"
