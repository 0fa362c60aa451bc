from __future__ import annotations

import logging

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from alerts.channels.builtin import register_builtin_channels
        from alerts.watchdogs import policy_propagation_failed
        from governance.policy import register_propagation_failure_hook

        # httpx logs every request URL at INFO, and webhook URLs carry their tokens.
        for name in ("httpx", "httpcore"):
            if logging.getLogger(name).level < logging.WARNING:
                logging.getLogger(name).setLevel(logging.WARNING)
        register_builtin_channels()
        register_propagation_failure_hook(policy_propagation_failed)
