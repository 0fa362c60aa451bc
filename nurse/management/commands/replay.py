"""``manage.py replay``: replay intents against candles and a policy; print the report.

    python manage.py replay --intents FILE --candles FILE[,FILE...]
        [--policy-version N | --policy-patch FILE | --policy-file SNAPSHOT] [--json]

See docs/replay.md. ``--make-scenario OUT.jsonl`` writes the shipped crash-week scenario's
intents from the given candles instead of replaying.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.errors import CioError
from nurse.replay.candles import load_candle_set
from nurse.replay.engine import ReplayConfig, exchange_filters_load, replay_run
from nurse.replay.intents import load_intents, write_jsonl
from nurse.replay.policy import load_patches, policy_snapshot_for, replay_ready
from nurse.replay.scenario import crash_week_intents


class Command(BaseCommand):
    help = "Replay a stream of intents through the exact gate against candles and a policy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--intents", help="JSONL (ts field) or freqtrade-derived CSV, or "
                            "db:[START][..END] for recorded decisions")
        parser.add_argument("--candles", action="append", default=[], required=True,
                            help="candle CSV(s), comma-separated or repeated; SYMBOL=path "
                                 "when the file name does not say the symbol")
        policy = parser.add_mutually_exclusive_group()
        policy.add_argument("--policy-version", type=int, help="the policy as of version N")
        policy.add_argument("--policy-patch", help='active policy + {"scope", "patch"} JSON')
        policy.add_argument("--policy-file", help="a snapshot JSON (policy_snapshot_build)")
        parser.add_argument("--exchange-info", action="append", default=[],
                            help="extra exchangeInfo JSON (symbols beyond BTCUSDT/ETHUSDT)")
        parser.add_argument("--equity", type=float, default=10_000.0,
                            help="starting equity in quote currency (default 10000)")
        parser.add_argument("--fee-rate", type=float, default=None,
                            help="fee per fill as a fraction (default SHADOW_FEE_RATE)")
        parser.add_argument("--slippage-bps", type=float, default=None,
                            help="adverse slippage per fill (default SHADOW_SLIPPAGE_BPS)")
        parser.add_argument("--hold-hours", type=float, default=None,
                            help="close positions still open after this (default: the "
                                 "longest shadow horizon)")
        parser.add_argument("--no-ladder", action="store_true",
                            help="do not apply the drawdown ladder to later intents")
        parser.add_argument("--no-regime", action="store_true",
                            help="do not run the strategist's regime on the candles")
        parser.add_argument("--keep-states", action="store_true",
                            help="keep the snapshot's trading states (default: start ACTIVE)")
        parser.add_argument("--csv-strategy-id", default="freqtrade-StrategyTestV3")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--out", help="also write the JSON report to this file")
        parser.add_argument("--make-scenario", metavar="OUT",
                            help="write the crash-week scenario intents (JSONL) and exit")

    def handle(self, *args: Any, **opts: Any) -> None:
        specs = [s for item in opts["candles"] for s in item.split(",") if s.strip()]
        try:
            candles = load_candle_set(specs)
        except (OSError, ValueError) as exc:
            raise CommandError(f"REPLAY_CANDLES_INVALID: {exc}") from None
        if opts["make_scenario"]:
            count = write_jsonl(Path(opts["make_scenario"]), crash_week_intents(candles))
            self.stdout.write(f"wrote {count} intents to {opts['make_scenario']}")
            return
        if not opts["intents"]:
            raise CommandError("REPLAY_INPUT_INVALID: --intents is required")
        try:
            intents = load_intents(opts["intents"], csv_strategy_id=opts["csv_strategy_id"])
            exchange = exchange_filters_load(opts["exchange_info"])
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"REPLAY_INPUT_INVALID: {exc}") from None
        snapshot, policy_inputs = self._policy(opts)
        horizons = tuple(settings.SHADOW_HORIZONS_H)
        config = ReplayConfig(
            equity=opts["equity"],
            fee_rate=opts["fee_rate"] if opts["fee_rate"] is not None else
            settings.SHADOW_FEE_RATE,
            slippage_bps=opts["slippage_bps"] if opts["slippage_bps"] is not None else
            settings.SHADOW_SLIPPAGE_BPS,
            hold_hours=opts["hold_hours"] or float(max(horizons)),
            horizons_h=horizons, dedup_window_s=settings.NURSE_DEDUP_WINDOW_S,
            ladder=not opts["no_ladder"], regime=not opts["no_regime"],
            max_payload_bytes=settings.NURSE_MAX_PAYLOAD_BYTES)
        report = replay_run(intents=intents, candles=candles,
                            snapshot=replay_ready(snapshot, keep_states=opts["keep_states"]),
                            exchange=exchange, config=config,
                            inputs={"intents_source": opts["intents"],
                                    "candle_files": specs, "policy": policy_inputs,
                                    "exchange_info": opts["exchange_info"]})
        text = json.dumps(report, indent=2, sort_keys=True)
        if opts["out"]:
            Path(opts["out"]).write_text(text + "\n")
        self.stdout.write(text if opts["json"] else summary(report))

    def _policy(self, opts: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            if opts["policy_file"]:
                snapshot = json.loads(Path(opts["policy_file"]).read_text())
                return snapshot, {"source": "file", "path": opts["policy_file"],
                                  "version": snapshot.get("policy_version")}
            if opts["policy_patch"]:
                patches = load_patches(opts["policy_patch"])
                snapshot = policy_snapshot_for(patches=patches)
                return snapshot, {"source": "patch", "base_version":
                                  snapshot["policy_version"], "patches": snapshot["patches"]}
            if opts["policy_version"] is not None:
                snapshot = policy_snapshot_for(version=opts["policy_version"])
                return snapshot, {"source": "version", "version": opts["policy_version"]}
            snapshot = policy_snapshot_for()
            return snapshot, {"source": "active", "version": snapshot["policy_version"]}
        except CioError as exc:
            raise CommandError(f"{exc.code}: {exc} {getattr(exc, 'details', '') or ''}"
                               .strip()) from None
        except (OSError, ValueError) as exc:
            raise CommandError(f"REPLAY_POLICY_INVALID: {exc}") from None


def summary(r: dict[str, Any]) -> str:
    """The report for a person: the headline figures, then the blocks by reason."""
    lines = [
        f"intents {r['inputs']['intents']}  approved {r['approved']}  blocked {r['blocked']}"
        f" (contract rejections {r['rejected']})",
        f"realized PnL of approved trades  {r['realized_pnl']:>12,.2f}"
        f"  ({r['trades_closed']} closed, {r['trades_open_at_end']} open at end)",
        f"shadow PnL of blocked entries    {r['shadow_pnl']:>12,.2f}"
        f"  (avoided {r['shadow_pnl_avoided']:,.2f}, foregone {r['shadow_pnl_foregone']:,.2f},"
        f" {r['shadow_positions']} positions)",
        f"max drawdown  gated {r['max_drawdown_gated']:.2%}  ungated "
        f"{r['max_drawdown_ungated']:.2%}",
        f"final equity  gated {r['final_equity_gated']:,.2f}  ungated "
        f"{r['final_equity_ungated']:,.2f}",
        "ladder: " + (", ".join(_step(e) for e in r["ladder_events"]
                                if e.get("kind") != "regime") or "no drawdown step"),
        f"regime: {sum(e.get('kind') == 'regime' for e in r['ladder_events'])} volatility "
        "phase changes the gate reads (see ladder_events in --json)",
        "blocked by reason:",
        *[f"  {code:<36} {n}" for code, n in sorted(r["blocked_by_reason"].items(),
                                                    key=lambda kv: -kv[1])],
    ]
    return "\n".join(lines)


def _step(e: dict[str, Any]) -> str:
    return f"{e['at']} {e['state']} (drawdown {e['drawdown']:.2%})"
