"""Run the LLM policy cycle now: ``--once`` prints its outcome (``--json`` for machines)."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from strategist.cycle import CycleOutcome, strategist_cycle_run


class Command(BaseCommand):
    help = ("Run one strategist cycle (proposal, auditor verdict, applied version or refusal, "
            "alerts raised); without --once, one cycle every STRATEGIST_CYCLE_INTERVAL_S.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run one cycle and exit")
        parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
        parser.add_argument("--trigger", default="manual")
        parser.add_argument("--provider", default=None,
                            help="override STRATEGIST_LLM_PROVIDER (rules, openai, anthropic)")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            outcome = strategist_cycle_run(trigger=options["trigger"],
                                           provider_name=options["provider"])
            self._print(outcome, as_json=options["json"])
            if options["once"]:
                return
            time.sleep(settings.STRATEGIST_CYCLE_INTERVAL_S)

    def _print(self, outcome: CycleOutcome, *, as_json: bool) -> None:
        data = outcome.as_dict()
        if as_json:
            self.stdout.write(json.dumps(data, default=str, indent=2))
            return
        w = self.stdout.write
        w(f"cycle {data['cycle_id']} ({data['trigger']}, {data['provider']}/{data['model']}): "
          f"{data['status']}  trace {data['trace_id']}")
        proposal = data["proposal"] or {}
        if proposal:
            w(f"  proposal: {proposal.get('summary')} (confidence {proposal.get('confidence')})")
            for p in proposal.get("patches", []):
                w(f"    patch {p['scope']}: {p.get('patch')} unset={p.get('unset')}")
            for s in proposal.get("state_changes", []):
                w(f"    state {s['scope']}: {s['state']}")
        verdict = data["verdict"] or {}
        if verdict:
            w(f"  auditor: {'approved' if verdict.get('approved') else 'REFUSED'}")
            for reason in verdict.get("reasons", []):
                w(f"    - {reason['check']}: {reason['code']} {reason['message']}")
            replay = verdict.get("replay") or {}
            if replay:
                w(f"  replay: {replay.get('intents')} intents, block rate "
                  f"{replay.get('block_rate_before')} -> {replay.get('block_rate_after')}, "
                  f"exposure {replay.get('approved_exposure_before')} -> "
                  f"{replay.get('approved_exposure_after')}")
        for applied in data["applied"]:
            w(f"  {applied['kind']} {applied['scope']}: {applied['status']} "
              f"version={applied.get('version')} approval={applied.get('approval_id')} "
              f"{applied.get('code') or ''}")
        if data["applied_policy_version"]:
            w(f"  applied policy version {data['applied_policy_version']}")
        if data["error"]:
            w(f"  error: {data['error']['code']} {data['error']['message']}")
        for alert in data["alerts"]:
            w(f"  alert raised: {alert.get('kind')} #{alert.get('alert_id')}")
