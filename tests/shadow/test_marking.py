"""The reference shadow simulation on real BTCUSDT 5m candles of 19 May 2021, with expected
values computed by hand from the candle rows quoted in each test (fee 0.1 % per fill)."""

from __future__ import annotations

from decimal import Decimal

from nurse.shadow.marking import Costs, ShadowSpec, simulate
from tests.shadow.conftest import btc_series, ms, utc

FEE = Costs(fee_rate=Decimal("0.001"), slippage=Decimal("0"))
H = [1, 4, 24, 48]


def D(text: str) -> Decimal:
    return Decimal(text)


def test_long_take_profit_touched_in_the_entry_candle() -> None:
    # 12:00 bar: open 38700.0, high 39295.51, low 38300.0. TP 39200 is inside, SL 38000 not.
    spec = ShadowSpec(side=1, quantity=D("0.01"), opened_ms=ms(utc(2021, 5, 19, 12, 0)),
                      stop_loss=D("38000"), take_profit=D("39200"))
    out = simulate(spec, btc_series(), H, FEE)
    assert out.entry_price == D("38700.0")
    assert out.pending == []
    for h in H:  # the exit (12:05 close) is before every horizon
        m = out.marks[h]
        assert (m.exit_reason, m.exit_price) == ("tp", D("39200"))
        # 0.01 * (39200 - 38700) - 0.001 * (38700 + 39200) * 0.01 = 5.00 - 0.779
        assert m.pnl == D("4.221")
        assert m.fees == D("0.779")
        # 4.221 / 387.00
        assert m.ret == D("0.010906976744")
        assert m.exit_at_ms == ms(utc(2021, 5, 19, 12, 0))


def test_long_stop_loss_touched_later() -> None:
    # Blocked 12:10:30 -> entry at the 12:15 open 38735.0. Lows: 12:15 38300.0,
    # 12:20 38400.0, 12:25 38100.2, 12:30 37547.01 <= SL 38000 (the 12:30 open 38314.4 is
    # above the stop, so no gap: the stop fills at 38000).
    spec = ShadowSpec(side=1, quantity=D("0.02"), opened_ms=ms(utc(2021, 5, 19, 12, 10, 30)),
                      stop_loss=D("38000"), take_profit=D("40000"))
    out = simulate(spec, btc_series(), H, FEE)
    assert out.entry_price == D("38735.0")
    m = out.marks[1]
    assert (m.exit_reason, m.exit_price) == ("sl", D("38000"))
    assert m.exit_at_ms == ms(utc(2021, 5, 19, 12, 30))
    # 0.02 * (38000 - 38735) - 0.001 * (38735 + 38000) * 0.02 = -14.70 - 1.5347
    assert m.pnl == D("-16.2347")
    assert out.marks[48].pnl == D("-16.2347")


def test_short_take_profit_in_the_crash() -> None:
    # Blocked 12:40:00 -> entry at the 12:40 open 37729.81. Lows 12:40 36433.0,
    # 12:45 35261.0, 12:50 32750.0 <= TP 35000 (open 35512.32 is above it: no gap).
    spec = ShadowSpec(side=-1, quantity=D("0.01"), opened_ms=ms(utc(2021, 5, 19, 12, 40)),
                      stop_loss=D("39000"), take_profit=D("35000"))
    m = simulate(spec, btc_series(), H, FEE).marks[4]
    assert (m.exit_reason, m.exit_price) == ("tp", D("35000"))
    # 0.01 * (37729.81 - 35000) - 0.001 * (37729.81 + 35000) * 0.01
    # = 27.2981 - 0.7272981
    assert m.pnl == D("26.5708019")


def test_short_stop_loss_in_the_rebound() -> None:
    # Blocked 13:10:00 -> entry at the 13:10 open 30101.0; that bar's high 32666.0 reaches
    # the short's stop 32000 (its low 30000.0 stays above the 28000 target).
    spec = ShadowSpec(side=-1, quantity=D("0.01"), opened_ms=ms(utc(2021, 5, 19, 13, 10)),
                      stop_loss=D("32000"), take_profit=D("28000"))
    m = simulate(spec, btc_series(), H, FEE).marks[1]
    assert (m.exit_reason, m.exit_price) == ("sl", D("32000"))
    # 0.01 * (30101.0 - 32000) - 0.001 * (30101.0 + 32000) * 0.01 = -18.99 - 0.62101
    assert m.pnl == D("-19.61101")


def test_neither_level_marks_each_horizon_at_the_close() -> None:
    # Blocked 16 May 00:00 -> entry 46762.99. Over 48 h the lows stay >= 42001.0 and the
    # highs <= 49795.89, so SL 40000 / TP 50000 never trade. Closes of the bars ending at
    # each horizon: 00:55 47283.43, 03:55 48383.46, 23:55 46431.5, 17 May 23:55 43538.04.
    spec = ShadowSpec(side=1, quantity=D("0.01"), opened_ms=ms(utc(2021, 5, 16)),
                      stop_loss=D("40000"), take_profit=D("50000"))
    out = simulate(spec, btc_series(), H, FEE)
    expected = {
        1: ("47283.43", "4.2639358"),    # 5.2044 - 0.9404642
        4: ("48383.46", "15.2532355"),   # 16.2047 - 0.9514645
        24: ("46431.5", "-4.2468449"),   # -3.3149 - 0.9319449
        48: ("43538.04", "-33.1525103"),  # -32.2495 - 0.9030103
    }
    for h, (price, pnl) in expected.items():
        m = out.marks[h]
        assert (m.exit_reason, m.exit_price, m.pnl) == ("horizon", D(price), D(pnl)), h
        assert m.gaps == 0


def test_both_levels_inside_one_candle_assume_the_stop_first() -> None:
    # Blocked 12:50:00 -> entry at the 12:50 open 35512.32; that bar ranges 32750.0 to
    # 36914.56, over both the 34000 stop and the 36500 target: high/low cannot tell which
    # traded first, so the stop is assumed (the conservative reading).
    spec = ShadowSpec(side=1, quantity=D("0.01"), opened_ms=ms(utc(2021, 5, 19, 12, 50)),
                      stop_loss=D("34000"), take_profit=D("36500"))
    m = simulate(spec, btc_series(), H, FEE).marks[1]
    assert (m.exit_reason, m.exit_price) == ("sl", D("34000"))
    assert "stop-loss assumed first" in m.note
    # 0.01 * (34000 - 35512.32) - 0.001 * (35512.32 + 34000) * 0.01 = -15.1232 - 0.6951232
    assert m.pnl == D("-15.8183232")


def test_gap_over_the_stop_fills_at_the_open_not_at_the_stop() -> None:
    # A long decided at 13:00:01 with a stop at 33500 (set from its 35234.62 view): the
    # next bar opens at 33358.6, already below the stop, so it exits at that open.
    spec = ShadowSpec(side=1, quantity=D("0.01"), opened_ms=ms(utc(2021, 5, 19, 13, 0, 1)),
                      stop_loss=D("33500"), take_profit=D("37000"))
    m = simulate(spec, btc_series(), H, FEE).marks[1]
    assert (m.exit_reason, m.exit_price) == ("sl_gap", D("33358.6"))
    # Entry and exit at the same open: only the fees, 0.001 * 2 * 333.586.
    assert m.pnl == D("-0.667172")


def test_short_gap_over_the_target_fills_at_the_open() -> None:
    spec = ShadowSpec(side=-1, quantity=D("0.01"), opened_ms=ms(utc(2021, 5, 19, 13, 0, 1)),
                      stop_loss=D("36000"), take_profit=D("33500"))
    m = simulate(spec, btc_series(), H, FEE).marks[1]
    assert (m.exit_reason, m.exit_price) == ("tp_gap", D("33358.6"))


def test_missing_prices_leave_horizons_unmarked_and_mark_later() -> None:
    opened = utc(2021, 5, 16)
    spec = ShadowSpec(side=1, quantity=D("0.01"), opened_ms=ms(opened),
                      stop_loss=D("40000"), take_profit=D("50000"))
    # Only two hours of prices so far: 1 h can be marked, the rest waits.
    early = simulate(spec, btc_series(end=utc(2021, 5, 16, 2)), H, FEE)
    assert sorted(early.marks) == [1]
    assert early.pending == [4, 24, 48]
    # No price at all at block time: nothing is marked, nothing is invented.
    none = simulate(spec, btc_series(start=utc(2021, 5, 16, 0, 5)), H, FEE)
    assert none.entry_price is None
    assert none.marks == {}
    assert none.pending == H
    # Later, with the data: the same results as a complete run.
    later = simulate(spec, btc_series(), [4, 24, 48], FEE, entry_price=early.entry_price)
    assert later.marks[48].pnl == D("-33.1525103")
    assert later.marks[4].pnl == D("15.2532355")


def test_gaps_in_the_window_are_counted_not_filled() -> None:
    # Remove the 00:30-00:45 bars: the 1 h mark still comes from the 00:55 close, and says
    # that four bars were missing.
    full = btc_series()
    cut = tuple(c for c in full.candles
                if not ms(utc(2021, 5, 16, 0, 30)) <= c.open_ms < ms(utc(2021, 5, 16, 0, 50)))
    series = type(full)(full.interval_ms, cut, full.source, full.quality)
    spec = ShadowSpec(side=1, quantity=D("0.01"), opened_ms=ms(utc(2021, 5, 16)),
                      stop_loss=D("40000"), take_profit=D("50000"))
    m = simulate(spec, series, [1], FEE).marks[1]
    assert m.exit_price == D("47283.43")
    assert m.gaps == 4
    assert "4 missing candle(s)" in m.note


def test_slippage_moves_both_fills_against_the_position() -> None:
    costs = Costs(fee_rate=Decimal("0"), slippage=Decimal("0.001"))
    spec = ShadowSpec(side=-1, quantity=D("1"), opened_ms=ms(utc(2021, 5, 16)),
                      stop_loss=D("60000"), take_profit=D("10000"))
    m = simulate(spec, btc_series(), [1], costs).marks[1]
    # A short sells lower and buys back higher: 46762.99 * 0.999 and 47283.43 * 1.001.
    assert m.entry_fill == D("46716.22701")
    assert m.exit_fill == D("47330.71343")
    assert m.pnl == D("-614.48642")


def test_percent_levels_apply_to_the_entry_price() -> None:
    spec = ShadowSpec(side=1, quantity=D("0.01"), opened_ms=ms(utc(2021, 5, 19, 12, 0)),
                      stop_loss_pct=D("0.02"), take_profit_pct=D("0.015"))
    m = simulate(spec, btc_series(), [1], FEE).marks[1]
    # TP = 38700 * 1.015 = 39280.5 (the 12:00 high 39295.51 reaches it).
    assert (m.exit_reason, m.exit_price) == ("tp", D("39280.500"))
