"""Intent streams for replays: JSONL, the freqtrade-derived CSV, or recorded decisions.

Every intent becomes ``(ts, raw)``: the epoch-second time the gate "receives" it and the
exact bytes the gate parses, so the replay runs the same parser and rules as live.

- JSONL: one intent object per line with a ``ts`` field (epoch seconds or milliseconds, or
  ISO-8601). The line itself is what the gate parses (``ts`` is an unknown key it keeps).
- CSV (``ts_ms,trade_idx,symbol,action,side,qty,ref_price,...,stop_loss_price,...``, the
  layout of ``freqtrade_StrategyTestV3_derived_intents.csv``): ``open`` rows become
  ``buy``/``sell`` entries and ``close`` rows ``close`` intents of one strategy id; the pair
  ``TRX/BTC`` becomes ``TRXBTC``. freqtrade has no confidence and no take-profit: the
  confidence is sent as 1.0 and no take-profit is invented (the gate blocks such entries
  while ``require_take_profit`` holds, which is what it would do live).
- ``db:[START][..END]``: decision records received in ``[START, END)`` (ISO-8601), each
  replayed from its stored intent payload at its ``received_at``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class ReplayIntent:
    """One intent: when the gate sees it (epoch s), its bytes, and its order in the input."""

    ts: float
    raw: bytes
    seq: int


def parse_ts(value: Any) -> float:
    """Epoch seconds from epoch s / ms (>= 1e11 is ms) or an ISO-8601 string."""
    if isinstance(value, bool):
        raise ValueError("ts must be a number or ISO-8601 text")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("ts must be finite")
        return float(value) / 1000.0 if abs(value) >= 1e11 else float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return parse_ts(float(text))
        except ValueError:
            pass
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    raise ValueError("ts must be a number or ISO-8601 text")


def _sorted(items: Iterable[ReplayIntent]) -> list[ReplayIntent]:
    return sorted(items, key=lambda i: (i.ts, i.seq))


def load_jsonl(path: Path) -> list[ReplayIntent]:
    out: list[ReplayIntent] = []
    with path.open("rb") as handle:
        for n, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc})") from None
            if not isinstance(obj, dict) or "ts" not in obj:
                raise ValueError(f"{path}:{n}: each line must be an object with a ts field")
            try:
                ts = parse_ts(obj["ts"])
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: {exc}") from None
            out.append(ReplayIntent(ts, line, n))
    return _sorted(out)


def _num(text: str) -> float | None:
    text = (text or "").strip()
    if not text:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def freqtrade_row_to_intent(row: dict[str, str], *, strategy_id: str) -> dict[str, Any]:
    """One row of the freqtrade-derived CSV as an intent object (see the module docstring)."""
    ts_ms = int(row["ts_ms"])
    symbol = row["symbol"].replace("/", "").replace(":", "").upper()
    kind = row["action"].strip().lower()
    side = row["side"].strip().upper()
    if kind == "open":
        action = "buy" if side == "BUY" else "sell"
    elif kind == "close":
        action = "close"
    else:
        raise ValueError(f"unknown action {row['action']!r}")
    price = _num(row["ref_price"])
    intent: dict[str, Any] = {
        "ts": ts_ms,
        "strategy_id": strategy_id,
        "signal_id": f"{strategy_id}-{row['trade_idx']}-{kind}",
        "symbol": symbol,
        "action": action,
        "confidence": 1.0,
        "price": price,
        "current_price": price,
        "quantity": _num(row["qty"]),
        "timestamp": ts_ms,
        "strategy": strategy_id,
        "metadata": {"source": "freqtrade", "trade_idx": int(row["trade_idx"]),
                     "leverage": _num(row.get("leverage", "")) or 1.0},
    }
    stop = _num(row.get("stop_loss_price", ""))
    if stop is not None and action != "close":
        intent["stop_loss"] = stop
    return intent


def load_freqtrade_csv(path: Path, *, strategy_id: str = "freqtrade-StrategyTestV3"
                       ) -> list[ReplayIntent]:
    out: list[ReplayIntent] = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        required = {"ts_ms", "trade_idx", "symbol", "action", "side", "qty", "ref_price"}
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing CSV columns {sorted(missing)}")
        for n, row in enumerate(reader, 2):
            intent = freqtrade_row_to_intent(row, strategy_id=strategy_id)
            raw = json.dumps(intent, separators=(",", ":")).encode()
            out.append(ReplayIntent(int(row["ts_ms"]) / 1000.0, raw, n))
    return _sorted(out)


def load_db(spec: str) -> list[ReplayIntent]:
    """``db:``, ``db:START``, ``db:START..END`` or ``db:..END`` (ISO-8601 bounds)."""
    from nurse.models import DecisionRecord

    body = spec.removeprefix("db:")
    start_text, _, end_text = body.partition("..")
    rows = DecisionRecord.objects.order_by("received_at", "pk")
    if start_text.strip():
        rows = rows.filter(received_at__gte=_aware(start_text))
    if end_text.strip():
        rows = rows.filter(received_at__lt=_aware(end_text))
    out: list[ReplayIntent] = []
    for n, (received, payload) in enumerate(rows.values_list("received_at", "payload")
                                            .iterator(chunk_size=5000)):
        raw = json.dumps(payload or {}, separators=(",", ":"), default=str).encode()
        out.append(ReplayIntent(received.timestamp(), raw, n))
    return out


def _aware(text: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def load_intents(spec: str, *, csv_strategy_id: str = "freqtrade-StrategyTestV3"
                 ) -> list[ReplayIntent]:
    """A file (``.jsonl``/``.json``/``.ndjson`` or ``.csv``) or a ``db:`` range."""
    if spec.startswith("db:"):
        return load_db(spec)
    path = Path(spec)
    if path.suffix.lower() == ".csv":
        return load_freqtrade_csv(path, strategy_id=csv_strategy_id)
    return load_jsonl(path)


def digest(intents: Iterable[ReplayIntent]) -> str:
    """A fingerprint of the stream (times and bytes), for the report's inputs."""
    h = hashlib.sha256()
    for item in intents:
        h.update(repr(item.ts).encode())
        h.update(b"\0")
        h.update(item.raw)
        h.update(b"\n")
    return h.hexdigest()


def write_jsonl(path: Path, intents: Iterator[dict[str, Any]] | Iterable[dict[str, Any]]
                ) -> int:
    count = 0
    with path.open("w") as handle:
        for intent in intents:
            handle.write(json.dumps(intent, separators=(",", ":"), sort_keys=True))
            handle.write("\n")
            count += 1
    return count
