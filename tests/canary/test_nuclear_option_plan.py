"""Pure parts of nuclear_option: lot rounding, splitting, side selection, drawdown, config."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canary import nuclear_option as no
from canary.nuclear_option import (
    ConfigError,
    LotFilter,
    OpenOrder,
    Position,
    Snapshot,
    SymbolRules,
    build_plan,
    evaluate_drawdown,
    plan_position,
    round_down_to_step,
    split_quantity,
)

STEPS = [Decimal("1"), Decimal("0.1"), Decimal("0.01"), Decimal("0.001"), Decimal("0.5")]


@st.composite
def lots(draw: st.DrawFn) -> LotFilter:
    step = draw(st.sampled_from(STEPS))
    min_qty = step * draw(st.integers(min_value=1, max_value=20))
    max_qty = min_qty * 2 + step * draw(st.integers(min_value=0, max_value=5000))
    return LotFilter(step=step, min_qty=min_qty, max_qty=max_qty)


quantities = st.decimals(
    min_value=Decimal(0), max_value=Decimal(100_000), places=6, allow_nan=False
)


def test_round_down_never_rounds_up() -> None:
    assert round_down_to_step(Decimal("0.0019"), Decimal("0.001")) == Decimal("0.001")
    assert str(round_down_to_step(Decimal("25.5"), Decimal("0.001"))) == "25.500"
    assert str(round_down_to_step(Decimal("10"), Decimal("0.001"))) == "10.000"
    assert str(round_down_to_step(Decimal("2500.7"), Decimal("1"))) == "2500"
    assert round_down_to_step(Decimal("1.26"), Decimal("0.5")) == Decimal("1.0")


@settings(max_examples=300, deadline=None)
@given(lot=lots(), quantity=quantities)
def test_split_never_exceeds_the_position_and_respects_every_filter(
    lot: LotFilter, quantity: Decimal
) -> None:
    chunks, dust = split_quantity(quantity, lot)

    assert sum(chunks, Decimal(0)) + dust == quantity
    assert dust >= 0
    for chunk in chunks:
        assert chunk % lot.step == 0
        assert lot.min_qty <= chunk <= lot.max_qty
    tradeable = round_down_to_step(quantity, lot.step)
    if tradeable < lot.min_qty:
        assert chunks == []
        assert dust == quantity
    elif len(chunks) < no.MAX_CHUNKS_PER_POSITION:
        assert dust < lot.step


def test_split_borrows_from_previous_chunk_so_the_tail_is_tradeable() -> None:
    lot = LotFilter(step=Decimal("0.001"), min_qty=Decimal("0.01"), max_qty=Decimal("1"))

    chunks, dust = split_quantity(Decimal("2.005"), lot)

    assert chunks == [Decimal("1.000"), Decimal("0.995"), Decimal("0.01")]
    assert dust == 0


def test_split_is_bounded_per_round() -> None:
    lot = LotFilter(step=Decimal("1"), min_qty=Decimal("1"), max_qty=Decimal("1"))

    chunks, dust = split_quantity(Decimal("1000"), lot)

    assert len(chunks) == no.MAX_CHUNKS_PER_POSITION
    assert dust == Decimal(1000 - no.MAX_CHUNKS_PER_POSITION)


def _position(amount: str, side: str = "BOTH") -> Position:
    return Position("BTCUSDT", side, Decimal(amount), Decimal("100"), Decimal(0))


RULES = SymbolRules(
    "BTCUSDT", LotFilter(Decimal("0.001"), Decimal("0.001"), Decimal("120")), Decimal("100")
)


@given(
    amount=st.decimals(min_value=Decimal("-500"), max_value=Decimal("500"), places=3).filter(
        lambda d: d != 0
    ),
    hedge=st.booleans(),
)
def test_close_side_comes_from_the_sign_and_can_only_reduce(amount: Decimal, hedge: bool) -> None:
    side = ("LONG" if amount > 0 else "SHORT") if hedge else "BOTH"
    plan = plan_position(_position(str(amount), side), RULES, hedge)

    expected_side = "SELL" if amount > 0 else "BUY"
    assert {o.side for o in plan.orders} <= {expected_side}
    assert sum((o.quantity for o in plan.orders), Decimal(0)) <= abs(amount)
    for order in plan.orders:
        params = dict(order.params("canary-test-1"))
        if hedge:
            assert params["positionSide"] == side
            assert "reduceOnly" not in params
        else:
            assert params["reduceOnly"] == "true"
            assert "positionSide" not in params
        assert params["type"] == "MARKET"


def test_position_without_filters_is_closed_with_the_exact_amount() -> None:
    plan = plan_position(_position("-0.123"), None, hedge_mode=False)

    assert [o.quantity for o in plan.orders] == [Decimal("0.123")]
    assert plan.note


def test_plan_groups_cancels_per_symbol_and_dust_alone_is_flat() -> None:
    dust_rules = {
        "BTCUSDT": SymbolRules(
            "BTCUSDT", LotFilter(Decimal("0.001"), Decimal("0.01"), Decimal("10")), None
        )
    }
    orders = (
        OpenOrder("ETHUSDT", "order", "1", "LIMIT", "BUY", "1"),
        OpenOrder("ETHUSDT", "algo", "2", "STOP_MARKET", "SELL", "1"),
        OpenOrder("ETHUSDT", "order", "3", "LIMIT", "BUY", "1"),
    )
    with_orders = build_plan(Snapshot(False, (_position("0.005"),), orders), dust_rules)
    only_dust = build_plan(Snapshot(False, (_position("0.005"),), ()), dust_rules)

    assert [(c.symbol, c.open_orders, c.open_algo_orders) for c in with_orders.cancels] == [
        ("ETHUSDT", 2, 1)
    ]
    assert not with_orders.is_flat
    assert only_dust.is_flat
    assert len(only_dust.dust_only) == 1


def test_drawdown_peak_is_stored_raised_and_never_lowered(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    threshold = Decimal("0.2")

    first = evaluate_drawdown(Decimal("1000"), threshold, state, t0)
    higher = evaluate_drawdown(Decimal("1200"), threshold, state, t0 + timedelta(minutes=1))
    lower = evaluate_drawdown(Decimal("1000"), threshold, state, t0 + timedelta(minutes=2))
    crash = evaluate_drawdown(Decimal("959"), threshold, state, t0 + timedelta(minutes=3))

    assert (first.peak, first.drawdown, first.triggered) == (Decimal("1000"), 0, False)
    assert higher.new_peak
    assert higher.peak == Decimal("1200")
    assert lower.peak == Decimal("1200")
    assert not lower.triggered
    assert crash.drawdown > threshold
    assert crash.triggered
    stored = json.loads(state.read_text())
    assert stored["peak_equity"] == "1200"
    assert stored["last_equity"] == "959"
    assert stored["peak_at"] == (t0 + timedelta(minutes=1)).isoformat()


def test_drawdown_exactly_at_threshold_does_not_act(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"peak_equity": "1000"}))

    check = evaluate_drawdown(Decimal("800"), Decimal("0.2"), state, datetime.now(UTC))

    assert check.drawdown == Decimal("0.2")
    assert not check.triggered


def test_corrupt_state_file_is_a_config_error(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")

    with pytest.raises(ConfigError):
        evaluate_drawdown(Decimal("1"), Decimal("0.2"), state, datetime.now(UTC))


def test_signature_matches_the_venue_documentation_example() -> None:
    # HMAC-SHA256 example published in Binance's API docs (same scheme for USD-M futures).
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    settings_ = no.load_settings({"BINANCE_FUTURES_BASE_URL": "https://fapi.binance.com"})
    creds = no.Credentials(api_key="k", secret=secret.encode())
    client = no.BinanceFuturesClient(settings_, creds, clock=lambda: 1499827319.559)
    params = [
        ("symbol", "LTCBTC"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "1"),
        ("price", "0.1"),
    ]

    encoded = client._encode(params, signed=True)

    assert encoded == (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
        "&recvWindow=5000&timestamp=1499827319559"
        "&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    )


def test_credentials_never_show_in_repr_and_reject_whitespace(tmp_path: Path) -> None:
    creds = no.load_credentials({"BINANCE_API_KEY": "abc", "BINANCE_API_SECRET": "def"})
    assert "abc" not in repr(creds)
    assert "def" not in repr(creds)

    with pytest.raises(ConfigError):
        no.load_credentials({"BINANCE_API_KEY": "ab c", "BINANCE_API_SECRET": "def"})
    (tmp_path / "k").write_text("abc")
    with pytest.raises(ConfigError, match="only one"):
        no.load_credentials(
            {
                "BINANCE_API_KEY": "abc",
                "BINANCE_API_KEY_FILE": str(tmp_path / "k"),
                "BINANCE_API_SECRET": "def",
            }
        )
    with pytest.raises(ConfigError, match="cannot be read"):
        no.load_credentials(
            {"BINANCE_API_KEY_FILE": str(tmp_path / "missing"), "BINANCE_API_SECRET": "def"}
        )


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://fapi.binance.com", True),
        ("https://testnet.binancefuture.com/", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080", True),
        ("http://fapi.binance.com", False),
        ("https://fapi.binance.com/?x=1", False),
        ("fapi.binance.com", False),
    ],
)
def test_base_url_validation(url: str, ok: bool) -> None:
    if ok:
        assert no.validate_base_url(url) == url.rstrip("/")
    else:
        with pytest.raises(ConfigError):
            no.validate_base_url(url)


def test_default_base_url_is_production() -> None:
    assert no.load_settings({}).base_url == "https://fapi.binance.com"
