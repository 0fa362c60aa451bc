from __future__ import annotations

from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Receivers: login audit, and fleet sync after every new config version.
        from governance import fleet_sync, signals  # noqa: F401
