"""The catalog data: the engine's 37 parameters (its facts) and our CIO-owned ones.

Names, types, defaults, minimum/maximum and allowed values of the ``owner="engine"``
entries and of ``allowed_symbols`` are facts read from the trade engine at commit
``9adbfe9`` (``tradeengine/defaults.py``; machine-readable copy in
``tests/fixtures/contracts/trading_config_params.json``). Do not change them here without
the engine changing first: a test compares every one of them with the fixture.

Everything else (unit, description, raise_when, lower_when, risk_impact, risk semantics,
engine_notes) is our own documentation, written for an LLM operator.

Units differ between parameters and between the engine's config and its Signal model:
``stop_loss_pct``, ``take_profit_pct`` and ``slippage_tolerance_pct`` are PERCENT values
(2.0 = 2%), while ``position_size_pct``, ``max_daily_loss_pct``,
``max_portfolio_exposure_pct`` and ``min_confidence_threshold`` are FRACTIONS (0.05 = 5%).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from governance.catalog.spec import Owner, ParameterSpec, ParamType, RiskDirection

ENGINE_COMMIT = "9adbfe9"

_NOT_READ = (
    "At engine commit 9adbfe9 no runtime code reads this value: the engine's config API "
    "validates, stores and serves it, but changing it does not change trading behaviour."
)
_WHOLE_NUMBER = (
    "Send a whole-number literal (10, not 10.0): the engine's isinstance(int) check rejects "
    "floats, and so do we."
)
_NULL_NOT_STORABLE = (
    "The engine's default is null (use the exchange's value), but its validate_parameters "
    "requires a float, so null cannot be written through its config API: omit the key "
    "instead of sending null."
)


def _spec(
    name: str,
    type_: ParamType,
    default: Any,
    minimum: int | float | None,
    maximum: int | float | None,
    allowed: tuple[str, ...] | None,
    category: str,
    *,
    owner: Owner,
    engine_schema: bool,
    unit: str,
    description: str,
    raise_when: str,
    lower_when: str,
    risk_impact: str,
    risk_direction: RiskDirection,
    riskier_value: bool | None = None,
    risk_order: tuple[str, ...] | None = None,
    zero_means_unlimited: bool = False,
    engine_notes: str = "",
) -> ParameterSpec:
    frozen_default: Any = default
    if isinstance(default, dict):
        frozen_default = MappingProxyType(dict(default))
    elif isinstance(default, list):
        frozen_default = tuple(default)
    return ParameterSpec(
        name=name,
        type=type_,
        default=frozen_default,
        minimum=minimum,
        maximum=maximum,
        allowed=allowed,
        category=category,
        unit=unit,
        description=description,
        raise_when=raise_when,
        lower_when=lower_when,
        risk_impact=risk_impact,
        risk_direction=risk_direction,
        owner=owner,
        engine_schema=engine_schema,
        riskier_value=riskier_value,
        risk_order=risk_order,
        zero_means_unlimited=zero_means_unlimited,
        engine_notes=engine_notes,
    )


# fmt: off
# The first positional arguments of each entry are the engine's facts, kept on one line so
# they read like the engine's own table: name, type, default, minimum, maximum, allowed,
# category.
_ENGINE_SPECS: tuple[ParameterSpec, ...] = (
    # --- order_execution -------------------------------------------------------------------
    _spec(
        "leverage", "integer", 10, 1, 125, None, "order_execution",
        owner="engine", engine_schema=True,
        unit="x leverage (10 = 10x; integer)",
        description=(
            "Futures leverage the engine applies to new positions: position notional = margin "
            "x leverage. At 10x a move of roughly 10% against an isolated position wipes out "
            "its margin, so liquidation distance shrinks as leverage grows. Must not exceed "
            "max_leverage_bound."
        ),
        raise_when=(
            "Only for liquid, low-volatility symbols with tight stops, when margin (not risk "
            "appetite) is the constraint."
        ),
        lower_when=(
            "Volatility rises, stops are wide, the fleet is in drawdown, or liquidations or "
            "near-liquidations were observed."
        ),
        risk_impact=(
            "Higher leverage magnifies every percent move in profit and loss and moves the "
            "liquidation price closer to entry."
        ),
        risk_direction="higher_is_riskier",
        engine_notes=(
            "Read by the engine's LeverageBoundGuard, but at commit 9adbfe9 the dispatcher's "
            "config manager is never assigned, so the guard uses the default (10) whatever "
            "is stored. " + _WHOLE_NUMBER
        ),
    ),
    _spec(
        "margin_type", "string", "isolated", None, None, ("isolated", "cross"),
        "order_execution",
        owner="engine", engine_schema=True,
        unit="choice",
        description=(
            "Futures margin mode. 'isolated' ring-fences the margin of each position so a "
            "liquidation loses only that position's margin; 'cross' shares the whole account "
            "balance as margin, which delays liquidation but lets one bad position drain the "
            "account."
        ),
        raise_when="Switch to 'cross' only on an explicit human decision to pool margin.",
        lower_when="Prefer 'isolated' (the default) whenever losses must stay contained.",
        risk_impact="'cross' puts the whole account behind every position; 'isolated' is safer.",
        risk_direction="higher_is_riskier",
        risk_order=("isolated", "cross"),
        engine_notes=_NOT_READ,
    ),
    _spec(
        "default_order_type", "string", "market", None, None,
        ("market", "limit", "stop", "stop_limit", "take_profit", "take_profit_limit"),
        "order_execution",
        owner="engine", engine_schema=True,
        unit="choice",
        description=(
            "Order type used when a signal does not say which one to use. 'market' fills "
            "immediately at the cost of slippage; 'limit' controls price but may not fill."
        ),
        raise_when="Use 'limit' when slippage costs dominate and missing some fills is acceptable.",
        lower_when="Use 'market' when fills must be certain (exits, fast markets).",
        risk_impact=(
            "Risk-neutral trade-off between execution certainty (market) and price control "
            "(limit)."
        ),
        risk_direction="neutral",
        engine_notes=(
            _NOT_READ + " In practice the Signal's own order_type (default 'market') applies."
        ),
    ),
    _spec(
        "time_in_force", "string", "GTC", None, None, ("GTC", "IOC", "FOK", "GTX"),
        "order_execution",
        owner="engine", engine_schema=True,
        unit="choice",
        description=(
            "How long a resting order stays live: GTC good-till-cancelled, IOC fill what you "
            "can immediately and cancel the rest, FOK fill completely at once or cancel, GTX "
            "post-only (cancelled if it would take liquidity). Only matters for non-market "
            "orders."
        ),
        raise_when="Use GTC for patient limit orders that should wait for their price.",
        lower_when="Use IOC/FOK to avoid stale resting orders; GTX to guarantee maker fees.",
        risk_impact="Risk-neutral; GTC orders can fill long after the signal that created them.",
        risk_direction="neutral",
        engine_notes=_NOT_READ,
    ),
    _spec(
        "position_mode", "string", "hedge", None, None, ("hedge", "one-way"),
        "order_execution",
        owner="engine", engine_schema=True,
        unit="choice",
        description=(
            "Futures position mode. In 'hedge' mode a symbol can hold a long and a short at the "
            "same time, and a 'sell' signal opens a short instead of closing a long; in "
            "'one-way' mode buys and sells net against one position. It must match the "
            "exchange account's mode."
        ),
        raise_when="Not a risk dial: change only together with the exchange account setting.",
        lower_when="Not a risk dial: change only together with the exchange account setting.",
        risk_impact=(
            "Risk-neutral as a setting, but a mismatch with the account or the strategies' "
            "assumptions turns exits into new positions."
        ),
        risk_direction="neutral",
        engine_notes=(
            _NOT_READ + " The engine's signal processors use the POSITION_MODE environment "
            "variable ('hedge') instead; changing this value does not switch the account mode."
        ),
    ),
    # --- position_sizing -------------------------------------------------------------------
    _spec(
        "position_size_pct", "float", 0.1, 0.001, 1.0, None, "position_sizing",
        owner="engine", engine_schema=True,
        unit="fraction of portfolio (0.1 = 10%)",
        description=(
            "Size of a new position as a FRACTION of portfolio equity: 0.1 means 10%, not 0.1%. "
            "It is the main per-trade sizing dial; the USD limits max_position_size_usd and "
            "min_position_size_usd bound the result."
        ),
        raise_when=(
            "Strategies show a stable edge, volatility is low and the fleet is well below its "
            "drawdown and exposure limits."
        ),
        lower_when="Volatility rises, drawdown deepens, or a strategy's hit rate degrades.",
        risk_impact="Higher values put more equity at stake on every trade.",
        risk_direction="higher_is_riskier",
        engine_notes=(
            _NOT_READ + " The engine's PositionManager caps size with the environment "
            "variable MAX_POSITION_SIZE_PCT (0.1) instead."
        ),
    ),
    _spec(
        "max_position_size_usd", "float", 1000.0, 1.0, 1000000.0, None, "position_sizing",
        owner="engine", engine_schema=True,
        unit="USD (notional)",
        description=(
            "Largest notional value, in USD, of a single position. It caps whatever "
            "position_size_pct computes, so it is the hard ceiling per trade. Must be at "
            "least min_position_size_usd."
        ),
        raise_when="Equity has grown and the per-trade cap now binds on a proven strategy.",
        lower_when="Testing a new strategy, after losses, or in high volatility.",
        risk_impact="Higher values allow bigger single-trade losses.",
        risk_direction="higher_is_riskier",
        engine_notes=_NOT_READ,
    ),
    _spec(
        "min_position_size_usd", "float", 10.0, 1.0, 10000.0, None, "position_sizing",
        owner="engine", engine_schema=True,
        unit="USD (notional)",
        description=(
            "Smallest notional value, in USD, of a position: computed sizes below it are meant "
            "to be skipped or raised to it. Keep it above the exchange's minimum notional and "
            "at or below max_position_size_usd."
        ),
        raise_when="Tiny orders are rejected by the exchange or cost more in fees than they earn.",
        lower_when="Small accounts or cautious tests need smaller trades.",
        risk_impact=(
            "Treated as riskier when higher: a higher floor can push small trades up to a "
            "bigger size than the sizing logic wanted."
        ),
        risk_direction="higher_is_riskier",
        engine_notes=_NOT_READ,
    ),
    _spec(
        "quantity_multiplier", "float", 1.0, 0.1, 10.0, None, "position_sizing",
        owner="engine", engine_schema=True,
        unit="multiplier (1.0 = unchanged)",
        description=(
            "Multiplier applied to the order quantity a signal asks for: 2.0 doubles every "
            "order, 0.5 halves it. A blunt fleet-wide scaling dial."
        ),
        raise_when="Rarely: only to scale up proven strategies uniformly.",
        lower_when="Quickly de-risk every strategy at once without editing each one.",
        risk_impact="Higher values scale every position, and every loss, proportionally.",
        risk_direction="higher_is_riskier",
        engine_notes=_NOT_READ,
    ),
    _spec(
        "use_exchange_minimums", "boolean", True, None, None, None, "position_sizing",
        owner="engine", engine_schema=True,
        unit="flag",
        description=(
            "When true, order sizes follow the exchange's own minimum notional, minimum "
            "quantity and step size. When false, the override_min_notional, override_min_qty "
            "and override_step_size values are used instead."
        ),
        raise_when="Keep true unless the exchange's filters are known to be wrong or unavailable.",
        lower_when="Set false only together with carefully checked override_* values.",
        risk_impact=(
            "Treated as riskier when false: hand-set minimums can produce rejected or "
            "mis-sized orders."
        ),
        risk_direction="lower_is_riskier",
        riskier_value=False,
        engine_notes=_NOT_READ,
    ),
    _spec(
        "override_min_notional", "float", None, 1.0, 1000.0, None, "position_sizing",
        owner="engine", engine_schema=True,
        unit="USD (quote currency); null = use the exchange's value",
        description=(
            "Manual replacement for the exchange's minimum order notional, in USD, used when "
            "use_exchange_minimums is false. null means not set."
        ),
        raise_when="The exchange raised its minimum notional and orders are being rejected.",
        lower_when="The exchange lowered its minimum and small orders are being skipped.",
        risk_impact="Risk-neutral; a wrong value causes rejected or oversized small orders.",
        risk_direction="neutral",
        engine_notes=_NOT_READ + " " + _NULL_NOT_STORABLE,
    ),
    _spec(
        "override_min_qty", "float", None, 1e-06, 1000.0, None, "position_sizing",
        owner="engine", engine_schema=True,
        unit="base-asset quantity; null = use the exchange's value",
        description=(
            "Manual replacement for the exchange's minimum order quantity, in units of the "
            "base asset (e.g. BTC), used when use_exchange_minimums is false. null means not "
            "set."
        ),
        raise_when="The exchange's minimum quantity increased and orders are being rejected.",
        lower_when="The exchange's minimum quantity decreased.",
        risk_impact="Risk-neutral; a wrong value causes rejected or mis-sized orders.",
        risk_direction="neutral",
        engine_notes=_NOT_READ + " " + _NULL_NOT_STORABLE,
    ),
    _spec(
        "override_step_size", "float", None, 1e-06, 1.0, None, "position_sizing",
        owner="engine", engine_schema=True,
        unit="base-asset quantity increment; null = use the exchange's value",
        description=(
            "Manual replacement for the exchange's quantity step (lot size increment), in "
            "units of the base asset, used when use_exchange_minimums is false. Quantities are "
            "rounded to a multiple of it. null means not set."
        ),
        raise_when="Match a coarser step published by the exchange.",
        lower_when="Match a finer step published by the exchange.",
        risk_impact="Risk-neutral; a wrong step makes the exchange reject orders.",
        risk_direction="neutral",
        engine_notes=_NOT_READ + " " + _NULL_NOT_STORABLE,
    ),
    # --- risk_management -------------------------------------------------------------------
    _spec(
        "stop_loss_pct", "float", 2.0, 0.1, 50.0, None, "risk_management",
        owner="engine", engine_schema=True,
        unit="percent (2.0 = 2%)",
        description=(
            "Default stop-loss distance from entry, in PERCENT: 2.0 means 2%, not 200%. "
            "Beware: in a Signal the field of the same name is a FRACTION (0.02 = 2%), so "
            "never copy one into the other without converting."
        ),
        raise_when=(
            "Stops are hit by normal noise before the trade idea plays out (volatility "
            "expanded); cut position size at the same time to keep the loss per trade flat."
        ),
        lower_when="Volatility is low or the loss per trade must shrink.",
        risk_impact=(
            "A wider stop risks more per trade at the same size, so a higher value is "
            "riskier."
        ),
        risk_direction="higher_is_riskier",
        engine_notes=(
            _NOT_READ + " The engine applies no default stop to signals, so every entry must "
            "carry its own stop-loss (the engine force-closes positions lacking one)."
        ),
    ),
    _spec(
        "take_profit_pct", "float", 5.0, 0.1, 100.0, None, "risk_management",
        owner="engine", engine_schema=True,
        unit="percent (5.0 = 5%)",
        description=(
            "Default take-profit distance from entry, in PERCENT: 5.0 means 5%. In a Signal "
            "the field of the same name is a FRACTION (0.05 = 5%); convert, never copy. "
            "Together with stop_loss_pct it sets the reward-to-risk ratio."
        ),
        raise_when="Trends run well beyond the target and profits are cut short.",
        lower_when="Moves reverse before reaching the target and winners turn into losers.",
        risk_impact=(
            "Neutral for risk: it changes how profits are taken, not how much can be lost."
        ),
        risk_direction="neutral",
        engine_notes=(
            _NOT_READ + " The engine applies no default take-profit, so every entry must carry "
            "its own (the engine force-closes positions lacking one)."
        ),
    ),
    _spec(
        "max_daily_loss_pct", "float", 0.05, 0.001, 0.5, None, "risk_management",
        owner="engine", engine_schema=True,
        unit="fraction of equity (0.05 = 5%)",
        description=(
            "Daily loss limit as a FRACTION of equity: 0.05 means 5% (unlike stop_loss_pct, "
            "which is in percent). When the day's realised loss reaches it, new risk should "
            "stop for the rest of the day."
        ),
        raise_when="Rarely; only for a deliberately higher risk budget approved by a human.",
        lower_when=(
            "After a losing streak, in turbulent markets, or when nearing the drawdown limits."
        ),
        risk_impact="Higher values let the fleet lose more before the daily brake engages.",
        risk_direction="higher_is_riskier",
        engine_notes=(
            _NOT_READ + " The engine's daily-loss check uses the environment variable "
            "MAX_DAILY_LOSS_PCT (0.05) instead."
        ),
    ),
    _spec(
        "max_portfolio_exposure_pct", "float", 0.8, 0.1, 1.0, None, "risk_management",
        owner="engine", engine_schema=True,
        unit="fraction of equity (0.8 = 80%)",
        description=(
            "Maximum share of equity committed to open positions at once, as a FRACTION: 0.8 "
            "means 80%. The rest stays as a cash buffer against adverse moves and margin calls."
        ),
        raise_when="Many uncorrelated opportunities and a calm market justify deploying more.",
        lower_when="Correlation across positions rises, volatility spikes, or drawdown deepens.",
        risk_impact="Higher values leave less buffer and more capital exposed to one market move.",
        risk_direction="higher_is_riskier",
        engine_notes=(
            _NOT_READ + " The engine's PositionManager uses the environment variable "
            "MAX_PORTFOLIO_EXPOSURE_PCT (0.8) instead."
        ),
    ),
    _spec(
        "max_daily_trades", "integer", 100, 1, 10000, None, "risk_management",
        owner="engine", engine_schema=True,
        unit="count per day (integer)",
        description=(
            "Maximum number of trades per day. It stops runaway strategies (loops, flapping "
            "signals) from over-trading and paying fees and slippage on every round trip."
        ),
        raise_when="High-frequency strategies legitimately need more trades and costs are known.",
        lower_when="A strategy is flapping, fees are eating returns, or signals look erratic.",
        risk_impact="Higher values allow more churn and a longer runaway before the brake engages.",
        risk_direction="higher_is_riskier",
        engine_notes=_NOT_READ + " " + _WHOLE_NUMBER,
    ),
    _spec(
        "max_concurrent_positions", "integer", 10, 1, 100, None, "risk_management",
        owner="engine", engine_schema=True,
        unit="count (integer)",
        description=(
            "Maximum number of positions open at the same time across the account. More "
            "positions diversify only if they are uncorrelated; in crypto they often are not."
        ),
        raise_when="Strategies trade many genuinely uncorrelated symbols.",
        lower_when="Positions move together (market-wide stress) or capital is thin.",
        risk_impact="Higher values allow more simultaneous exposure to one market-wide move.",
        risk_direction="higher_is_riskier",
        engine_notes=_NOT_READ + " " + _WHOLE_NUMBER,
    ),
    _spec(
        "risk_management_enabled", "boolean", True, None, None, None, "risk_management",
        owner="engine", engine_schema=True,
        unit="flag",
        description=(
            "Master switch for the engine's own risk checks (daily loss, exposure, position "
            "size). It should stay true; turning it off removes a layer of protection."
        ),
        raise_when="Keep true.",
        lower_when="Never set false in production; only in isolated tests.",
        risk_impact="false disables the engine's risk checks, so false is the riskier value.",
        risk_direction="lower_is_riskier",
        riskier_value=False,
        engine_notes=(
            _NOT_READ + " The engine's PositionManager checks are switched by the environment "
            "variable RISK_MANAGEMENT_ENABLED instead."
        ),
    ),
    # --- signal_processing -----------------------------------------------------------------
    _spec(
        "signal_conflict_resolution", "string", "strongest_wins", None, None,
        ("strongest_wins", "first_come_first_served", "weighted_average", "manual_review"),
        "signal_processing",
        owner="engine", engine_schema=True,
        unit="choice",
        description=(
            "How the engine settles opposing signals for the same symbol from different "
            "strategies: take the most confident one, the earliest one, a weighted average "
            "(see strategy_weights), or hold them for a human."
        ),
        raise_when="Not a numeric dial: pick 'weighted_average' when strategy weights are trusted.",
        lower_when="Pick 'manual_review' when conflicts are rare and need human judgement.",
        risk_impact="Risk-neutral as a choice; it changes which signal wins, not the size limits.",
        risk_direction="neutral",
        engine_notes=_NOT_READ,
    ),
    _spec(
        "timeframe_conflict_resolution", "string", "higher_timeframe_wins", None, None,
        ("higher_timeframe_wins", "lower_timeframe_wins", "weighted_average"),
        "signal_processing",
        owner="engine", engine_schema=True,
        unit="choice",
        description=(
            "How the engine settles conflicting signals for the same symbol on different "
            "timeframes: prefer the higher timeframe (trend), the lower one (timing), or a "
            "weighted average using timeframe_weights."
        ),
        raise_when="Prefer 'higher_timeframe_wins' in trending markets.",
        lower_when="Prefer 'lower_timeframe_wins' for short-term, mean-reverting strategies.",
        risk_impact="Risk-neutral as a choice.",
        risk_direction="neutral",
        engine_notes=_NOT_READ,
    ),
    _spec(
        "max_signal_age_seconds", "integer", 300, 1, 3600, None, "signal_processing",
        owner="engine", engine_schema=True,
        unit="seconds (integer)",
        description=(
            "Oldest signal, in seconds since its timestamp, that the engine still acts on; "
            "older signals are dropped because the price they were computed from has moved."
        ),
        raise_when="Rarely; only if signals are legitimately delayed and still valid when late.",
        lower_when="Markets move fast and stale signals cause poor fills.",
        risk_impact="Higher values let the engine act on staler information, so higher is riskier.",
        risk_direction="higher_is_riskier",
        engine_notes=(
            "The engine's consumer reads the static default (300) directly at commit 9adbfe9, "
            "so stored overrides are NOT applied. " + _WHOLE_NUMBER
        ),
    ),
    _spec(
        "min_confidence_threshold", "float", 0.5, 0.0, 1.0, None, "signal_processing",
        owner="engine", engine_schema=True,
        unit="fraction 0..1 (signal confidence)",
        description=(
            "Minimum signal confidence (0..1) required before a signal is traded. Raising it "
            "filters out weak signals; lowering it lets more marginal signals through."
        ),
        raise_when="Low-confidence trades are losing money or markets are choppy.",
        lower_when="Rarely; only if good trades are filtered out and results prove it.",
        risk_impact="Lower values admit weaker signals, so lower is riskier.",
        risk_direction="lower_is_riskier",
        engine_notes=(
            _NOT_READ + " The engine's processors use hard-coded thresholds instead "
            "(deterministic 0.6, ml_light 0.5, llm 0.7)."
        ),
    ),
    _spec(
        "position_mode_aware_conflicts", "boolean", True, None, None, None,
        "signal_processing",
        owner="engine", engine_schema=True,
        unit="flag",
        description=(
            "When true, conflict resolution takes the position mode into account: in hedge "
            "mode a long and a short on the same symbol are not treated as a conflict. When "
            "false, opposite-direction signals always conflict."
        ),
        raise_when="Keep true in hedge mode so long and short strategies can coexist.",
        lower_when="Set false to force one direction per symbol.",
        risk_impact="Risk-neutral; it changes which signals are considered conflicting.",
        risk_direction="neutral",
        engine_notes=(
            _NOT_READ + " The engine uses the environment variable POSITION_MODE_AWARE_CONFLICTS "
            "instead. The key is in the engine's schema but not in its defaults dict."
        ),
    ),
    _spec(
        "same_direction_conflict_resolution", "string", "accumulate", None, None,
        ("accumulate", "strongest_wins", "reject_duplicates"),
        "signal_processing",
        owner="engine", engine_schema=True,
        unit="choice",
        description=(
            "What happens when a new signal points the same way as an open position on the "
            "symbol: 'accumulate' adds to it, 'strongest_wins' keeps only the most confident, "
            "'reject_duplicates' ignores the repeat."
        ),
        raise_when="Use 'accumulate' only when scaling into positions is intended.",
        lower_when="Use 'reject_duplicates' to stop positions from growing through repeats.",
        risk_impact=(
            "'accumulate' lets positions grow with every repeat signal; 'reject_duplicates' is "
            "the safest."
        ),
        risk_direction="higher_is_riskier",
        risk_order=("reject_duplicates", "strongest_wins", "accumulate"),
        engine_notes=(
            _NOT_READ + " The engine uses the environment variable "
            "SAME_DIRECTION_CONFLICT_RESOLUTION instead. The key is in the engine's schema but "
            "not in its defaults dict."
        ),
    ),
    # --- weights ---------------------------------------------------------------------------
    _spec(
        "strategy_weights", "dict",
        {
            "momentum_strategy": 1.0,
            "mean_reversion_strategy": 0.8,
            "ml_strategy": 1.2,
            "llm_strategy": 1.5,
            "default": 1.0,
        },
        None, None, None, "strategy_weights",
        owner="engine", engine_schema=True,
        unit="map of strategy name -> weight (number >= 0; 1.0 = neutral)",
        description=(
            "Relative trust in each strategy, used when conflicting signals are combined by "
            "weighted average; 'default' applies to strategies not listed. Writing it replaces "
            "the whole map, so send every key you want to keep."
        ),
        raise_when="A strategy's live results beat the others consistently.",
        lower_when="A strategy underperforms or behaves erratically.",
        risk_impact="Risk-neutral: it shifts influence between strategies, not total size.",
        risk_direction="neutral",
        engine_notes=_NOT_READ,
    ),
    _spec(
        "timeframe_weights", "dict",
        {
            "tick": 0.3, "1m": 0.5, "3m": 0.6, "5m": 0.7, "15m": 0.8, "30m": 0.9,
            "1h": 1.0, "2h": 1.1, "4h": 1.2, "6h": 1.3, "8h": 1.4, "12h": 1.5,
            "1d": 1.6, "3d": 1.7, "1w": 1.8, "1M": 2.0,
        },
        None, None, None, "timeframe_weights",
        owner="engine", engine_schema=True,
        unit="map of timeframe -> weight (number >= 0; 1.0 = neutral)",
        description=(
            "Relative trust in each signal timeframe ('1m', '1h', '1d', ...; '1M' is a month), "
            "used when timeframe conflicts are resolved by weighted average. Writing it "
            "replaces the whole map, so send every key you want to keep."
        ),
        raise_when="Signals on that timeframe have proven more reliable.",
        lower_when="Signals on that timeframe are noisy (typically the shortest ones).",
        risk_impact="Risk-neutral: it shifts influence between timeframes, not total size.",
        risk_direction="neutral",
        engine_notes=(
            _NOT_READ + " The engine's schema lists a shorter 6-key default; this default is "
            "the 16-key one from its DEFAULT_TRADING_PARAMETERS."
        ),
    ),
    # --- advanced --------------------------------------------------------------------------
    _spec(
        "enabled", "boolean", True, None, None, None, "advanced",
        owner="engine", engine_schema=True,
        unit="flag",
        description=(
            "Whether trading is enabled for the scope this config applies to (global, symbol "
            "or strategy). false is the conservative value."
        ),
        raise_when="Re-enable only once the reason for disabling is resolved.",
        lower_when="Set false to pause trading in a scope that misbehaves.",
        risk_impact="true allows trading, so true is the riskier value.",
        risk_direction="higher_is_riskier",
        riskier_value=True,
        engine_notes=(
            _NOT_READ + " Setting it false does NOT stop the engine from trading; use the CIO "
            "gate's controls to stop a strategy or the fleet."
        ),
    ),
    _spec(
        "enable_shorts", "boolean", True, None, None, None, "advanced",
        owner="engine", engine_schema=True,
        unit="flag",
        description=(
            "Whether short positions may be opened. Shorts have theoretically unlimited loss "
            "and are exposed to short squeezes and funding costs."
        ),
        raise_when="Re-enable when short strategies are validated and markets are orderly.",
        lower_when="Disable during squeezes, strongly bullish regimes or funding spikes.",
        risk_impact="true allows more kinds of exposure, so true is the riskier value.",
        risk_direction="higher_is_riskier",
        riskier_value=True,
        engine_notes=_NOT_READ,
    ),
    _spec(
        "enable_longs", "boolean", True, None, None, None, "advanced",
        owner="engine", engine_schema=True,
        unit="flag",
        description=(
            "Whether long positions may be opened. Disabling it leaves only shorts (and "
            "closes of existing positions)."
        ),
        raise_when="Re-enable when long strategies are validated and the market is not crashing.",
        lower_when="Disable during a crash or a strongly bearish regime.",
        risk_impact="true allows more kinds of exposure, so true is the riskier value.",
        risk_direction="higher_is_riskier",
        riskier_value=True,
        engine_notes=_NOT_READ,
    ),
    _spec(
        "slippage_tolerance_pct", "float", 0.1, 0.0, 10.0, None, "advanced",
        owner="engine", engine_schema=True,
        unit="percent (0.1 = 0.1%)",
        description=(
            "Largest accepted difference between expected and executed price, in PERCENT: "
            "0.1 means 0.1%. Beyond it the order should be rejected rather than filled at a bad "
            "price."
        ),
        raise_when="Orders on thin books fail too often and the fills are still worth taking.",
        lower_when="Execution costs are eating returns or books are thin and volatile.",
        risk_impact="Higher values accept worse fills, so higher is riskier.",
        risk_direction="higher_is_riskier",
        engine_notes=_NOT_READ,
    ),
    _spec(
        "max_retries", "integer", 3, 0, 10, None, "advanced",
        owner="engine", engine_schema=True,
        unit="count (integer)",
        description=(
            "How many times the engine retries a failed exchange request. Retries recover "
            "from transient errors but can duplicate orders if the first attempt actually "
            "reached the exchange."
        ),
        raise_when="The exchange has transient errors and orders or exits are being lost.",
        lower_when="Duplicate orders appear after timeouts.",
        risk_impact=(
            "Neutral: more retries risk duplicates, fewer risk missed exits; neither is "
            "clearly safer."
        ),
        risk_direction="neutral",
        engine_notes=_NOT_READ + " " + _WHOLE_NUMBER,
    ),
    # --- leverage_bound --------------------------------------------------------------------
    _spec(
        "max_leverage_bound", "integer", 125, 1, 125, None, "leverage_bound",
        owner="engine", engine_schema=True,
        unit="x leverage (integer)",
        description=(
            "Upper bound that leverage may not exceed; the engine's leverage guard refuses "
            "anything above it. The default 125 is the exchange maximum, i.e. effectively no "
            "bound; a real bound (e.g. 20) is a strong safety net."
        ),
        raise_when="Rarely; only on an explicit human decision to allow higher leverage.",
        lower_when="Set it to the highest leverage any strategy should ever use.",
        risk_impact="Higher values allow more leverage, so higher is riskier.",
        risk_direction="higher_is_riskier",
        engine_notes=(
            "Read by the engine's LeverageBoundGuard, which at commit 9adbfe9 uses defaults "
            "only (see leverage). " + _WHOLE_NUMBER
        ),
    ),
    _spec(
        "portfolio_leverage_cap", "integer", 0, 0, 10000, None, "leverage_bound",
        owner="engine", engine_schema=True,
        unit="x leverage, portfolio-wide (integer; 0 = disabled)",
        description=(
            "Cap on the aggregate leverage of the whole portfolio, checked by the engine's "
            "leverage guard. 0 disables the check, which makes 0 the loosest value, not the "
            "tightest."
        ),
        raise_when="Rarely: only when a non-zero cap blocks legitimate diversified exposure.",
        lower_when="Set a non-zero cap (e.g. 3) to bound total leverage across positions.",
        risk_impact="Higher values (and 0, meaning no cap) allow more total leverage.",
        risk_direction="higher_is_riskier",
        zero_means_unlimited=True,
        engine_notes=(
            "Read by the engine's LeverageBoundGuard, which at commit 9adbfe9 uses defaults "
            "only (see leverage). " + _WHOLE_NUMBER
        ),
    ),
    _spec(
        "leverage_breach_alert_threshold", "integer", 3, 1, 100, None, "leverage_bound",
        owner="engine", engine_schema=True,
        unit="count of breaches (integer)",
        description=(
            "Number of leverage-bound breaches after which the engine's leverage guard raises "
            "its alert. Lower values alert sooner."
        ),
        raise_when="Alerts fire on harmless, isolated breaches.",
        lower_when="Breaches must be noticed immediately.",
        risk_impact="Higher values delay the alert, so higher is riskier.",
        risk_direction="higher_is_riskier",
        engine_notes=(
            "Feeds the engine's LeverageBoundGuard alert gauge, which at commit 9adbfe9 uses "
            "defaults only. " + _WHOLE_NUMBER
        ),
    ),
)

_CIO_SPECS: tuple[ParameterSpec, ...] = (
    _spec(
        "allowed_symbols", "list", [], None, None, None, "signal_processing",
        owner="cio", engine_schema=False,
        unit="list of upper-case symbols (e.g. ['BTCUSDT']); [] = no restriction",
        description=(
            "Symbols the fleet may open positions in, written like 'BTCUSDT' (upper case, "
            "2-30 letters or digits, no duplicates). The empty list means every symbol is "
            "allowed; closes are never blocked by it."
        ),
        raise_when="Add a symbol once it has been reviewed for liquidity and strategy fit.",
        lower_when="Remove symbols that are illiquid, delisting, or behaving abnormally.",
        risk_impact=(
            "Adding symbols, or emptying the list (no restriction), loosens risk; removing "
            "symbols tightens it."
        ),
        risk_direction="higher_is_riskier",
        engine_notes=(
            "The engine's position manager reads this key from its GLOBAL config (empty = all "
            "symbols), but its config API rejects it as an unknown parameter, so it cannot be "
            "pushed there: only the CIO gate enforces it."
        ),
    ),
    _spec(
        "max_symbol_exposure_usd", "float", 5000.0, 0.0, 10_000_000.0, None, "exposure_limits",
        owner="cio", engine_schema=False,
        unit="USD (absolute notional)",
        description=(
            "Cap, in USD, on the absolute notional the whole fleet may hold in any one symbol "
            "(all strategies, longs and shorts together). The gate denies an entry that would "
            "push a symbol above it; 0 blocks all new entries."
        ),
        raise_when="A liquid symbol is the fleet's main opportunity and equity supports it.",
        lower_when="A symbol becomes volatile, illiquid, or concentrates too much risk.",
        risk_impact="Higher values allow more concentration in a single symbol.",
        risk_direction="higher_is_riskier",
    ),
    _spec(
        "max_strategy_exposure_usd", "float", 5000.0, 0.0, 10_000_000.0, None,
        "exposure_limits",
        owner="cio", engine_schema=False,
        unit="USD (absolute notional)",
        description=(
            "Cap, in USD, on the absolute notional one strategy may hold across all its "
            "symbols. The gate denies an entry that would push the strategy above it; 0 "
            "blocks the strategy's new entries."
        ),
        raise_when="A strategy has a proven live record and its limit binds.",
        lower_when="A strategy is new, underperforming, or behaving unexpectedly.",
        risk_impact="Higher values let a single strategy's errors cost more.",
        risk_direction="higher_is_riskier",
    ),
    _spec(
        "max_fleet_exposure_usd", "float", 20000.0, 0.0, 100_000_000.0, None,
        "exposure_limits",
        owner="cio", engine_schema=False,
        unit="USD (absolute notional)",
        description=(
            "Cap, in USD, on the total absolute notional of all strategies together. It is the "
            "outermost exposure limit of the gate; 0 blocks all new entries."
        ),
        raise_when="Equity has grown and the fleet is well below its drawdown limits.",
        lower_when="Drawdown deepens, volatility spikes, or the market regime is unclear.",
        risk_impact="Higher values allow more total capital at risk.",
        risk_direction="higher_is_riskier",
    ),
    _spec(
        "max_orders_per_minute", "integer", 30, 1, 10000, None, "rate_limits",
        owner="cio", engine_schema=False,
        unit="count per minute, per strategy (integer)",
        description=(
            "Maximum number of orders one strategy may send per minute; the gate denies the "
            "excess. It catches runaway loops before they flood the engine and the exchange."
        ),
        raise_when="A legitimate high-frequency strategy is throttled.",
        lower_when="A strategy floods orders or its signals flap.",
        risk_impact="Higher values let a runaway strategy do more damage before it is throttled.",
        risk_direction="higher_is_riskier",
    ),
    _spec(
        "require_stop_loss", "boolean", True, None, None, None, "risk_management",
        owner="cio", engine_schema=False,
        unit="flag",
        description=(
            "When true, the gate denies entries (buy/sell) that carry no stop-loss. The "
            "engine force-closes live positions lacking a stop-loss anyway, so false mainly "
            "produces positions that are opened and then closed at a cost."
        ),
        raise_when="Keep true.",
        lower_when="Never in production.",
        risk_impact="false lets entries through without a loss limit, so false is riskier.",
        risk_direction="lower_is_riskier",
        riskier_value=False,
    ),
    _spec(
        "require_take_profit", "boolean", True, None, None, None, "risk_management",
        owner="cio", engine_schema=False,
        unit="flag",
        description=(
            "When true, the gate denies entries (buy/sell) that carry no take-profit. The "
            "engine force-closes live positions lacking a take-profit, so keep it true."
        ),
        raise_when="Keep true.",
        lower_when="Never in production.",
        risk_impact="false admits entries the engine will force-close, so false is riskier.",
        risk_direction="lower_is_riskier",
        riskier_value=False,
    ),
    _spec(
        "volatility_high_size_scale", "float", 0.5, 0.0, 1.0, None, "market_regime",
        owner="cio", engine_schema=False,
        unit="fraction (0.5 = half size)",
        description=(
            "Multiplier the gate applies to the maximum position size while the market "
            "regime's volatility phase is 'high': 0.5 halves it, 1.0 leaves it unchanged, 0 "
            "blocks entries."
        ),
        raise_when="High-volatility phases have proven profitable for the fleet's strategies.",
        lower_when="High-volatility phases produce outsized losses or slippage.",
        risk_impact="Higher values keep more size in volatile markets, so higher is riskier.",
        risk_direction="higher_is_riskier",
    ),
    _spec(
        "volatility_extreme_action", "string", "block", None, None,
        ("block", "scale_down", "allow"), "market_regime",
        owner="cio", engine_schema=False,
        unit="choice",
        description=(
            "What the gate does with entries while the volatility phase is 'extreme': 'block' "
            "denies them, 'scale_down' applies volatility_high_size_scale, 'allow' lets them "
            "through unchanged. Closes always pass."
        ),
        raise_when="Move towards 'allow' only with strategies built for extreme volatility.",
        lower_when="Keep 'block' (the default) unless there is strong evidence otherwise.",
        risk_impact="'block' is safest, 'scale_down' riskier, 'allow' riskiest.",
        risk_direction="higher_is_riskier",
        risk_order=("block", "scale_down", "allow"),
    ),
    _spec(
        "drawdown_reduce_pct", "float", 0.15, 0.01, 0.5, None, "drawdown",
        owner="cio", engine_schema=False,
        unit="fraction of peak equity (0.15 = 15%)",
        description=(
            "Fleet drawdown from peak equity, as a FRACTION (0.15 = 15%), at which the gate "
            "switches to REDUCING: new entries are denied and only closing or "
            "position-reducing orders pass. Must be below drawdown_halt_pct."
        ),
        raise_when="Rarely; only on an explicit human decision to tolerate deeper drawdowns.",
        lower_when="Markets are hostile or capital preservation matters more than recovery.",
        risk_impact="Higher values let losses run further before new risk stops.",
        risk_direction="higher_is_riskier",
    ),
    _spec(
        "drawdown_halt_pct", "float", 0.20, 0.01, 0.5, None, "drawdown",
        owner="cio", engine_schema=False,
        unit="fraction of peak equity (0.20 = 20%)",
        description=(
            "Fleet drawdown from peak equity, as a FRACTION (0.20 = 20%), at which the gate "
            "switches to HALTED: nothing but closes passes. Must be above drawdown_reduce_pct."
        ),
        raise_when="Rarely; only on an explicit human decision.",
        lower_when="The fund's maximum tolerable drawdown is lowered.",
        risk_impact="Higher values postpone the last line of defence.",
        risk_direction="higher_is_riskier",
    ),
)

# fmt: on


def _build(specs: tuple[ParameterSpec, ...]) -> Mapping[str, ParameterSpec]:
    catalog: dict[str, ParameterSpec] = {}
    for spec in specs:
        if spec.name in catalog:
            raise RuntimeError(f"duplicate catalog parameter {spec.name!r}")
        catalog[spec.name] = spec
    return MappingProxyType(catalog)


CATALOG: Mapping[str, ParameterSpec] = _build(_ENGINE_SPECS + _CIO_SPECS)
"""Every parameter, by name: the engine's 36 schema parameters, then the CIO-owned ones."""

ENGINE_SCHEMA_NAMES: frozenset[str] = frozenset(s.name for s in _ENGINE_SPECS)
"""The 36 parameters the engine's config API accepts (and so can be pushed to it)."""

CIO_NAMES: frozenset[str] = frozenset(s.name for s in _CIO_SPECS)
"""Parameters enforced by the CIO gate only (the engine's config API rejects them)."""
