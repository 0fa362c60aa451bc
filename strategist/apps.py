from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class StrategistConfig(AppConfig):
    name = "strategist"
    verbose_name = "Strategist (regime, ladder, LLM policy cycle, memory)"

    def ready(self) -> None:
        from alerts.watchdogs import register_report_kind
        from governance.policy import register_snapshot_section
        from strategist.selectors import regime_snapshot_section

        # The Nurse reads snapshot["regime"]["symbols"][SYMBOL]["volatility_phase"].
        register_snapshot_section("regime", regime_snapshot_section)
        register_report_kind("strategist_refusal", category="strategist", severity="warning")
        register_report_kind("strategist_approval_needed", category="strategist",
                             severity="info")
        try:
            from strategist.mcp import register_agent_operations

            register_agent_operations()
        except ImportError:  # the API/MCP layer is optional for this app
            logger.info("governance.api not importable; strategist MCP tools not registered")
