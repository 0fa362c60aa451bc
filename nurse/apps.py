from __future__ import annotations

from django.apps import AppConfig


class NurseConfig(AppConfig):
    name = "nurse"
    verbose_name = "Nurse (intent gate)"

    def ready(self) -> None:
        # The earnings summary takes over the API/MCP placeholder operation.
        from nurse.earnings.ops import install

        install()
