"""Candles for replays: CSV files (``open_time_ms,open,high,low,close,volume``) as arrays."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nurse.shadow.prices import symbol_of_file

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class SymbolCandles:
    """One symbol's bars, sorted by open time, with a fixed interval."""

    symbol: str
    interval_ms: int
    open_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    path: str = ""
    close_ms: IntArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Computed once: searched for every position and every clock tick.
        object.__setattr__(self, "close_ms", self.open_ms + self.interval_ms)

    def __len__(self) -> int:
        return int(self.open_ms.shape[0])

    def entry_index(self, ts_ms: int) -> int | None:
        """Rule 1 of ``nurse.shadow.marking``: the first bar opening at or after ``ts_ms``,
        if it opens less than one interval later."""
        i = int(np.searchsorted(self.open_ms, ts_ms, side="left"))
        if i >= len(self) or int(self.open_ms[i]) - ts_ms >= self.interval_ms:
            return None
        return i

    def last_closed_by(self, ts_ms: int) -> int:
        """Index of the last bar that closes at or before ``ts_ms`` (-1 when none)."""
        return int(np.searchsorted(self.close_ms, ts_ms, side="right")) - 1

    def window(self, start_ms: int, end_ms: int) -> SymbolCandles:
        lo = int(np.searchsorted(self.open_ms, start_ms, side="left"))
        hi = int(np.searchsorted(self.open_ms, end_ms, side="right"))
        return SymbolCandles(self.symbol, self.interval_ms, self.open_ms[lo:hi],
                             self.open[lo:hi], self.high[lo:hi], self.low[lo:hi],
                             self.close[lo:hi], self.path)


def load_candles_csv(path: str | Path, symbol: str | None = None) -> SymbolCandles:
    """Read one CSV; the symbol comes from the file name unless given."""
    path = Path(path)
    if symbol is None:
        named = symbol_of_file(path)
        if named is None:
            raise ValueError(f"cannot tell the symbol of {path.name}; pass SYMBOL=path")
        symbol = named[0]
    with path.open() as handle:
        header = handle.readline().strip().split(",")
        if header[:5] != ["open_time_ms", "open", "high", "low", "close"]:
            raise ValueError(f"{path}: expected open_time_ms,open,high,low,close[,volume]")
    data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, 1, 2, 3, 4),
                      dtype=np.float64, ndmin=2)
    if data.shape[0] == 0:
        raise ValueError(f"{path}: no candles")
    order = np.argsort(data[:, 0], kind="stable")
    data = data[order]
    open_ms = data[:, 0].astype(np.int64)
    diffs = np.diff(open_ms)
    interval = int(np.median(diffs)) if diffs.size else 60_000
    return SymbolCandles(symbol.upper(), interval, open_ms, data[:, 1].copy(),
                         data[:, 2].copy(), data[:, 3].copy(), data[:, 4].copy(), str(path))


def load_candle_set(specs: Iterable[str]) -> dict[str, SymbolCandles]:
    """``--candles`` items: ``path`` (symbol from the name) or ``SYMBOL=path``."""
    result: dict[str, SymbolCandles] = {}
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        symbol, sep, path = spec.partition("=")
        loaded = load_candles_csv(path, symbol) if sep else load_candles_csv(spec)
        if loaded.symbol in result:
            raise ValueError(f"two candle files for {loaded.symbol}")
        result[loaded.symbol] = loaded
    return result
