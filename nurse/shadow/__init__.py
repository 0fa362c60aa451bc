"""Shadow ROI: blocked entries tracked as positions and marked to market at fixed horizons.

- ``codes``: which blocked decisions become shadow positions (and why the others do not).
- ``marking``: the reference first-touch simulation in ``Decimal`` (stop-loss / take-profit
  on candle high/low, gaps, fees, slippage); the replay's vectorised float version in
  ``nurse.replay.sim`` follows the same rules and is tested against it.
- ``prices``: the price-source registry (Redis cache fed from NATS, HTTP klines, candle files).
- ``feed``: the NATS listener that fills the Redis price cache and records execution fills.
- ``services`` / ``selectors``: scan, mark, record fills; aggregate avoided / foregone PnL.
"""
