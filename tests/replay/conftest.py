"""Replay test setup: the crash-week candles and scenario from tests/fixtures/candles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nurse.replay.candles import SymbolCandles, load_candle_set
from nurse.replay.intents import write_jsonl
from nurse.replay.scenario import crash_week_intents

CANDLES = Path(__file__).resolve().parents[1] / "fixtures" / "candles"
BTC = CANDLES / "binance_spot_BTCUSDT_5m_20210515_20210525.csv"
ETH = CANDLES / "binance_spot_ETHUSDT_5m_20210515_20210525.csv"
CANDLE_ARG = f"{BTC},{ETH}"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def candles() -> dict[str, SymbolCandles]:
    return load_candle_set([str(BTC), str(ETH)])


@pytest.fixture(scope="session")
def scenario_file(tmp_path_factory: pytest.TempPathFactory,
                  candles: dict[str, SymbolCandles]) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "crash_week.jsonl"
    write_jsonl(path, crash_week_intents(candles))
    return path


def intent_line(**fields: object) -> str:
    return json.dumps(fields, separators=(",", ":"))
