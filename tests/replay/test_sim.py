"""The replay's vectorised float simulation agrees with the Decimal reference
(``nurse.shadow.marking``) on real candles, for every rule (touch, gap, both, horizon)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from nurse.replay import sim
from nurse.replay.candles import SymbolCandles
from nurse.shadow.marking import Costs, ShadowSpec, simulate
from nurse.shadow.prices import CandleFileSource
from tests.replay.conftest import BTC, ETH

FEE, SLIP = 0.0004, 0.0002
H = [1, 4, 24, 48]


@pytest.mark.parametrize(("symbol", "path"), [("BTCUSDT", BTC), ("ETHUSDT", ETH)])
def test_float_and_decimal_simulations_agree(candles: dict[str, SymbolCandles], symbol: str,
                                             path: object) -> None:
    c = candles[symbol]
    series = CandleFileSource({symbol: str(path)}).fetch(symbol, 0, 2**62)
    assert series is not None
    rng = random.Random(7)
    reasons: set[str] = set()
    costs = Costs(Decimal(str(FEE)), Decimal(str(SLIP)))
    for _ in range(300):
        ts = int(c.open_ms[rng.randrange(200, len(c) - 100)]) + rng.choice([0, 1000, 150_000])
        side = rng.choice([1, -1])
        ref = float(c.close[c.last_closed_by(ts)])
        sl_pct, tp_pct = rng.choice([0.003, 0.01, 0.03, 0.3]), rng.choice([0.004, 0.02, 0.5])
        # Absolute levels from the intent's view (may already be crossed at entry: gaps).
        sl = round(ref * (1 - side * sl_pct), 2)
        tp = round(ref * (1 + side * tp_pct), 2)
        spec = ShadowSpec(side=side, quantity=Decimal("0.5"), opened_ms=ts,
                          stop_loss=Decimal(str(sl)), take_profit=Decimal(str(tp)))
        ref_out = simulate(spec, series, H, costs)
        i = c.entry_index(ts)
        assert i is not None
        assert float(c.open[i]) == float(ref_out.entry_price or 0)
        stop = c.last_closed_by(ts + 48 * sim.HOUR_MS)
        touch = sim.first_touch(c, i, stop, side, sl, tp)
        for h in H:
            got = sim.horizon_exit(c, i, ts, h, touch)
            want = ref_out.marks.get(h)
            if want is None:
                assert got is None
                continue
            assert got is not None
            reason, price, _ = got
            assert (reason, price) == (want.exit_reason, float(want.exit_price)), (ts, h)
            *_, pnl = sim.settle(side, 0.5, float(c.open[i]), price, FEE, SLIP)
            assert pnl == pytest.approx(float(want.pnl), abs=1e-6)
            reasons.add(reason)
    assert reasons == {"sl", "tp", "sl_gap", "tp_gap", "horizon"}
