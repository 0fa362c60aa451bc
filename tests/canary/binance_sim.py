"""A Binance USD-M futures REST simulator served over real HTTP on loopback.

It implements the endpoints the canary uses, verifies API key, HMAC-SHA256 signature,
timestamp and recvWindow like the venue, keeps positions and open orders, applies the
reduce-only, hedge-mode and lot-step rules, counts request weight, and can inject faults
(-1021, -2022, 429, 418, 5xx, dropped connections, partial fills, redirects).

Response shapes come from the recorded payloads in ``tests/fixtures/binance/``.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "binance"

_CLIENT_ORDER_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _known_errors() -> dict[int, str]:
    messages: dict[int, str] = {}
    for entry in load_fixture("error_responses.json"):
        messages.setdefault(int(entry["body"]["code"]), str(entry["body"]["msg"]))
    return messages


KNOWN_ERRORS = _known_errors()


class SimError(Exception):
    """An error response the venue would send."""

    def __init__(
        self, status: int, code: int, msg: str | None = None, *, retry_after: int | None = None
    ) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg if msg is not None else KNOWN_ERRORS.get(code, "error")
        self.retry_after = retry_after


@dataclass
class SymbolSpec:
    """Filters and mark price for one simulated symbol."""

    symbol: str
    mark_price: Decimal
    step: Decimal = Decimal("0.001")
    min_qty: Decimal = Decimal("0.001")
    max_qty: Decimal = Decimal("1000")
    market_max_qty: Decimal | None = None
    min_notional: Decimal = Decimal("5")


@dataclass
class SimPosition:
    """One position leg."""

    amount: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)


@dataclass
class Injection:
    """A fault applied to the next ``times`` matching requests."""

    kind: str
    times: int
    path: str | None = None
    method: str | None = None
    ratio: Decimal = Decimal("0.5")
    retry_after: int = 1
    symbol: str | None = None


@dataclass
class RecordedRequest:
    """What the simulator received, for assertions."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int = 0
    code: int | None = None

    @property
    def mutating(self) -> bool:
        return self.method in {"POST", "DELETE", "PUT"}


@dataclass
class _Weight:
    window_index: int = -1
    used: int = 0
    blocked_until: float = 0.0


ENDPOINT_WEIGHT = {
    ("GET", "/fapi/v1/time"): 1,
    ("GET", "/fapi/v1/exchangeInfo"): 1,
    ("GET", "/fapi/v1/positionSide/dual"): 30,
    ("GET", "/fapi/v3/positionRisk"): 5,
    ("GET", "/fapi/v2/positionRisk"): 5,
    ("GET", "/fapi/v2/account"): 5,
    ("DELETE", "/fapi/v1/allOpenOrders"): 1,
    ("DELETE", "/fapi/v1/algoOpenOrders"): 1,
    ("POST", "/fapi/v1/order"): 0,
}


@dataclass
class BinanceFuturesSim:
    """State and HTTP server of the simulated venue."""

    api_key: str = "sim-api-key-0123456789"
    api_secret: str = "sim-api-secret-abcdefghijklmnop"
    hedge_mode: bool = False
    wallet_balance: Decimal = Decimal("10000")
    weight_limit: int = 2400
    weight_interval: tuple[str, int] = ("MINUTE", 1)
    clock_skew_ms: int = 0
    v3_position_risk: bool = True
    algo_service: bool = True
    redirect_to: str | None = None
    symbols: dict[str, SymbolSpec] = field(default_factory=dict)
    positions: dict[tuple[str, str], SimPosition] = field(default_factory=dict)
    open_orders: list[dict[str, Any]] = field(default_factory=list)
    algo_orders: list[dict[str, Any]] = field(default_factory=list)
    filled_orders: list[dict[str, Any]] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    injections: list[Injection] = field(default_factory=list)
    rate_limited: int = 0
    bans: int = 0

    def __post_init__(self) -> None:
        if not self.symbols:
            self.symbols = {
                "BTCUSDT": SymbolSpec("BTCUSDT", Decimal("67502.68519858")),
                "ETHUSDT": SymbolSpec("ETHUSDT", Decimal("3250.10")),
            }
        self._lock = threading.RLock()
        self._weight = _Weight()
        self._next_order_id = 8389765519000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- setup helpers ------------------------------------------------------------------------

    def set_position(
        self,
        symbol: str,
        amount: str | Decimal,
        *,
        position_side: str | None = None,
        entry_price: str | Decimal | None = None,
    ) -> None:
        side = position_side or ("BOTH" if not self.hedge_mode else "LONG")
        amt = Decimal(amount)
        entry = Decimal(entry_price) if entry_price is not None else self.symbols[symbol].mark_price
        with self._lock:
            self.positions[(symbol, side)] = SimPosition(amt, entry)

    def add_open_order(
        self,
        symbol: str,
        *,
        side: str = "BUY",
        order_type: str = "LIMIT",
        quantity: str = "0.010",
        price: str = "50000",
        reduce_only: bool = False,
        position_side: str = "BOTH",
    ) -> None:
        row = copy.deepcopy(load_fixture("open_orders.json")[0])
        row.update(
            symbol=symbol,
            orderId=self._new_order_id(),
            side=side,
            type=order_type,
            origType=order_type,
            origQty=quantity,
            price=price,
            reduceOnly=reduce_only,
            positionSide=position_side,
            clientOrderId=f"bot-{len(self.open_orders)}",
            status="NEW",
            time=int(time.time() * 1000),
            updateTime=int(time.time() * 1000),
        )
        with self._lock:
            self.open_orders.append(row)

    def add_algo_order(
        self,
        symbol: str,
        *,
        side: str = "SELL",
        quantity: str = "0.010",
        trigger_price: str = "45000",
        reduce_only: bool = False,
    ) -> None:
        row = copy.deepcopy(load_fixture("open_algo_orders.json")[0])
        # The venue's current docs name the field orderType (the older example says type).
        row["orderType"] = row.pop("type")
        row.update(
            symbol=symbol,
            algoId=self._new_order_id(),
            side=side,
            quantity=quantity,
            triggerPrice=trigger_price,
            reduceOnly=reduce_only,
        )
        with self._lock:
            self.algo_orders.append(row)

    def inject(
        self,
        kind: str,
        times: int = 1,
        *,
        path: str | None = None,
        method: str | None = None,
        ratio: str = "0.5",
        retry_after: int = 1,
        symbol: str | None = None,
    ) -> None:
        with self._lock:
            self.injections.append(
                Injection(kind, times, path, method, Decimal(ratio), retry_after, symbol)
            )

    def position_amount(self, symbol: str, position_side: str = "BOTH") -> Decimal:
        with self._lock:
            pos = self.positions.get((symbol, position_side))
            return pos.amount if pos else Decimal(0)

    def mutating_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.mutating]

    def order_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path == "/fapi/v1/order"]

    def is_flat(self) -> bool:
        with self._lock:
            return (
                all(p.amount == 0 for p in self.positions.values())
                and not self.open_orders
                and not self.algo_orders
            )

    # -- server lifecycle ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "simulator not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        sim = self

        class Handler(_Handler):
            simulator = sim

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> BinanceFuturesSim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------------------------

    def _new_order_id(self) -> int:
        with self._lock:
            self._next_order_id += 1
            return self._next_order_id

    def server_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_skew_ms

    def _take_injection(
        self, method: str, path: str, kinds: set[str], params: dict[str, str] | None = None
    ) -> Injection | None:
        with self._lock:
            for inj in self.injections:
                if inj.times <= 0 or inj.kind not in kinds:
                    continue
                if inj.symbol is not None and (params or {}).get("symbol") != inj.symbol:
                    continue
                if inj.path is not None and inj.path != path:
                    continue
                if inj.method is not None and inj.method != method:
                    continue
                inj.times -= 1
                return inj
        return None

    def weight_header(self) -> tuple[str, str]:
        interval, num = self.weight_interval
        return f"X-MBX-USED-WEIGHT-{num}{interval[0]}", str(self._weight.used)

    def _charge_weight(self, method: str, path: str, params: dict[str, str]) -> None:
        """Count request weight per window; 429 above the limit, 418 for ignoring Retry-After."""
        weight = ENDPOINT_WEIGHT.get((method, path), 1)
        if path in {"/fapi/v1/openOrders", "/fapi/v1/openAlgoOrders"}:
            weight = 1 if "symbol" in params else 40
        interval, num = self.weight_interval
        window_s = _INTERVAL_SECONDS[interval] * num
        now = time.time()
        with self._lock:
            w = self._weight
            if now < w.blocked_until:
                self.bans += 1
                raise SimError(
                    418,
                    -1003,
                    "Way too many requests; IP banned until later.",
                    retry_after=math.ceil(w.blocked_until - now) + 2,
                )
            index = int(now // window_s)
            if index != w.window_index:
                w.window_index, w.used = index, 0
            if w.used + weight > self.weight_limit:
                self.rate_limited += 1
                retry_after = math.ceil((index + 1) * window_s - now)
                w.blocked_until = (index + 1) * window_s
                raise SimError(
                    429,
                    -1003,
                    f"Too many requests; current limit is "
                    f"{self.weight_limit} request weight per {num} {interval}.",
                    retry_after=retry_after,
                )
            w.used += weight

    def _verify_signed(
        self, headers: dict[str, str], query: str, body: str, params: dict[str, str]
    ) -> None:
        key = headers.get("x-mbx-apikey")
        if not key:
            raise SimError(400, -2014, "API-key format invalid.")
        if not hmac.compare_digest(key, self.api_key):
            raise SimError(401, -2015)
        if "timestamp" not in params:
            raise SimError(
                400,
                -1102,
                "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
            )
        total = _strip_signature(query)[0] + _strip_signature(body)[0]
        signature = _strip_signature(query)[1] or _strip_signature(body)[1]
        expected = hmac.new(self.api_secret.encode(), total.encode(), hashlib.sha256).hexdigest()
        if signature is None or not hmac.compare_digest(signature, expected):
            raise SimError(400, -1022)
        recv_window = int(params.get("recvWindow", "5000"))
        if recv_window > 60000 or recv_window <= 0:
            raise SimError(400, -1131, "recvWindow must be less than 60000")
        timestamp = int(params["timestamp"])
        now = self.server_ms()
        if timestamp >= now + 1000:
            raise SimError(
                400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now - timestamp > recv_window:
            raise SimError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    # -- endpoint implementations -------------------------------------------------------------

    def exchange_info(self) -> dict[str, Any]:
        info = copy.deepcopy(load_fixture("exchange_info.json"))
        interval, num = self.weight_interval
        for limit in info["rateLimits"]:
            if limit["rateLimitType"] == "REQUEST_WEIGHT":
                limit.update(interval=interval, intervalNum=num, limit=self.weight_limit)
        template = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
        symbols = []
        for spec in self.symbols.values():
            sym = copy.deepcopy(template)
            sym.update(symbol=spec.symbol, pair=spec.symbol, baseAsset=spec.symbol[:-4])
            for f in sym["filters"]:
                if f["filterType"] in {"LOT_SIZE", "MARKET_LOT_SIZE"}:
                    max_qty = spec.max_qty
                    if f["filterType"] == "MARKET_LOT_SIZE" and spec.market_max_qty is not None:
                        max_qty = spec.market_max_qty
                    f.update(stepSize=str(spec.step), minQty=str(spec.min_qty), maxQty=str(max_qty))
                elif f["filterType"] == "MIN_NOTIONAL":
                    f["notional"] = str(spec.min_notional)
            symbols.append(sym)
        info["symbols"] = symbols
        info["serverTime"] = self.server_ms()
        return info

    def _position_rows_v3(self) -> list[dict[str, Any]]:
        template = load_fixture("position_risk_v3.json")[0]
        with_orders = {o["symbol"] for o in self.open_orders}
        rows = []
        for (symbol, side), pos in sorted(self.positions.items()):
            if pos.amount == 0 and symbol not in with_orders:
                continue
            mark = self.symbols[symbol].mark_price
            row = copy.deepcopy(template)
            row.update(
                symbol=symbol,
                positionSide=side,
                positionAmt=str(pos.amount),
                entryPrice=str(pos.entry_price),
                markPrice=str(mark),
                unRealizedProfit=str((mark - pos.entry_price) * pos.amount),
                notional=str(pos.amount * mark),
                updateTime=self.server_ms(),
            )
            rows.append(row)
        return rows

    def _position_rows_v2(self) -> list[dict[str, Any]]:
        template = load_fixture("position_risk_v2_hedge.json")[0]
        rows = []
        sides = ("LONG", "SHORT") if self.hedge_mode else ("BOTH",)
        for symbol, spec in sorted(self.symbols.items()):
            for side in sides:
                pos = self.positions.get((symbol, side), SimPosition())
                row = copy.deepcopy(template)
                row.update(
                    symbol=symbol,
                    positionSide=side,
                    positionAmt=str(pos.amount),
                    entryPrice=str(pos.entry_price),
                    markPrice=str(spec.mark_price),
                    unRealizedProfit=str((spec.mark_price - pos.entry_price) * pos.amount),
                    updateTime=self.server_ms(),
                )
                rows.append(row)
        return rows

    def account(self) -> dict[str, Any]:
        body = copy.deepcopy(load_fixture("account_v2.json"))
        unrealized = sum(
            (
                (self.symbols[s].mark_price - p.entry_price) * p.amount
                for (s, _), p in self.positions.items()
            ),
            Decimal(0),
        )
        equity = self.wallet_balance + unrealized
        body.update(
            totalWalletBalance=str(self.wallet_balance),
            totalUnrealizedProfit=str(unrealized),
            totalMarginBalance=str(equity),
            totalCrossWalletBalance=str(self.wallet_balance),
            availableBalance=str(equity),
            maxWithdrawAmount=str(equity),
        )
        body["assets"][0].update(
            walletBalance=str(self.wallet_balance),
            unrealizedProfit=str(unrealized),
            marginBalance=str(equity),
        )
        return body

    def new_order(self, params: dict[str, str]) -> dict[str, Any]:
        symbol = params.get("symbol", "")
        spec = self.symbols.get(symbol)
        if spec is None:
            raise SimError(400, -1121)
        side = params.get("side")
        if side not in {"BUY", "SELL"}:
            raise SimError(400, -1117, "Invalid side.")
        if params.get("type") != "MARKET":
            raise SimError(400, -1116, "Invalid orderType.")
        coid = params.get("newClientOrderId", f"sim{self._next_order_id}")
        if not _CLIENT_ORDER_ID.match(coid):
            raise SimError(400, -1100, "Illegal characters found in parameter 'newClientOrderId'.")
        try:
            qty = Decimal(params.get("quantity", ""))
        except InvalidOperation as exc:
            raise SimError(
                400,
                -1102,
                "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
            ) from exc
        if qty <= 0:
            raise SimError(400, -4003)
        if qty % spec.step != 0:
            raise SimError(400, -1111)
        if qty < spec.min_qty:
            raise SimError(400, -4004, "Quantity less than min quantity.")
        market_max = spec.market_max_qty if spec.market_max_qty is not None else spec.max_qty
        if qty > market_max:
            raise SimError(400, -4005, "Quantity greater than max quantity.")
        position_side = params.get("positionSide")
        reduce_only = params.get("reduceOnly")
        if self.hedge_mode:
            if reduce_only is not None:
                raise SimError(400, -1106, "Parameter 'reduceonly' sent when not required.")
            if position_side not in {"LONG", "SHORT"}:
                raise SimError(400, -4061, "Order's position side does not match user's setting.")
            key = (symbol, position_side)
            closing = (side, position_side) in {("SELL", "LONG"), ("BUY", "SHORT")}
            current = self.positions.get(key, SimPosition()).amount
            if closing and qty > abs(current):
                raise SimError(400, -2022)
        else:
            if position_side not in {None, "BOTH"}:
                raise SimError(400, -4061, "Order's position side does not match user's setting.")
            key = (symbol, "BOTH")
            current = self.positions.get(key, SimPosition()).amount
            reduces = (current > 0 and side == "SELL") or (current < 0 and side == "BUY")
            closing = reduce_only == "true"
            if closing and (not reduces or qty > abs(current)):
                raise SimError(400, -2022)
        if not closing and qty * spec.mark_price < spec.min_notional:
            raise SimError(400, -4164)
        if self._take_injection("POST", "/fapi/v1/order", {"reduce_only_reject"}, params):
            raise SimError(400, -2022)
        executed = qty
        partial = self._take_injection("POST", "/fapi/v1/order", {"partial_fill"}, params)
        if partial is not None:
            executed = (qty * partial.ratio / spec.step).to_integral_value(ROUND_DOWN) * spec.step
        self._fill(key, side, executed, spec)
        order = copy.deepcopy(load_fixture("order_response.json"))
        now = self.server_ms()
        order.update(
            orderId=self._new_order_id(),
            symbol=symbol,
            clientOrderId=coid,
            price="0",
            status="FILLED" if executed == qty else "EXPIRED",
            avgPrice=str(spec.mark_price) if executed else "0.00",
            origQty=str(qty),
            executedQty=str(executed),
            cumQuote=str(executed * spec.mark_price),
            timeInForce="GTC",
            type="MARKET",
            origType="MARKET",
            side=side,
            reduceOnly=reduce_only == "true",
            positionSide=position_side or "BOTH",
            time=now,
            updateTime=now,
        )
        self.filled_orders.append(order)
        return order

    def _fill(self, key: tuple[str, str], side: str, qty: Decimal, spec: SymbolSpec) -> None:
        pos = self.positions.setdefault(key, SimPosition())
        delta = qty if side == "BUY" else -qty
        if pos.amount != 0 and (pos.amount > 0) != (delta > 0):
            closed = min(abs(delta), abs(pos.amount))
            sign = 1 if pos.amount > 0 else -1
            self.wallet_balance += (spec.mark_price - pos.entry_price) * closed * sign
        elif delta != 0:
            total = abs(pos.amount) + abs(delta)
            pos.entry_price = (
                pos.entry_price * abs(pos.amount) + spec.mark_price * abs(delta)
            ) / total
        pos.amount += delta

    def dispatch(self, method: str, path: str, params: dict[str, str]) -> Any:
        route = (method, path)
        if route == ("GET", "/fapi/v1/time"):
            return {"serverTime": self.server_ms()}
        if route == ("GET", "/fapi/v1/exchangeInfo"):
            return self.exchange_info()
        if route == ("GET", "/fapi/v1/positionSide/dual"):
            body = copy.deepcopy(load_fixture("position_side_dual.json"))
            body["dualSidePosition"] = self.hedge_mode
            return body
        if route == ("GET", "/fapi/v3/positionRisk") and self.v3_position_risk:
            return self._position_rows_v3()
        if route == ("GET", "/fapi/v2/positionRisk"):
            return self._position_rows_v2()
        if route == ("GET", "/fapi/v2/account"):
            return self.account()
        if route == ("GET", "/fapi/v1/openOrders"):
            return [
                o
                for o in self.open_orders
                if "symbol" not in params or o["symbol"] == params["symbol"]
            ]
        if route == ("GET", "/fapi/v1/openAlgoOrders") and self.algo_service:
            return [
                o
                for o in self.algo_orders
                if "symbol" not in params or o["symbol"] == params["symbol"]
            ]
        if route in {("DELETE", "/fapi/v1/allOpenOrders"), ("DELETE", "/fapi/v1/algoOpenOrders")}:
            if path.endswith("algoOpenOrders") and not self.algo_service:
                raise SimError(404, 0, "Not Found")
            symbol = params.get("symbol")
            if not symbol:
                raise SimError(
                    400,
                    -1102,
                    "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
                )
            book = self.open_orders if path.endswith("allOpenOrders") else self.algo_orders
            book[:] = [o for o in book if o["symbol"] != symbol]
            return {"code": 200, "msg": "The operation of cancel all open order is done."}
        if route == ("POST", "/fapi/v1/order"):
            return self.new_order(params)
        raise SimError(404, 0, "Not Found")


PUBLIC_PATHS = {"/fapi/v1/time", "/fapi/v1/exchangeInfo"}


def _strip_signature(raw: str) -> tuple[str, str | None]:
    """Return (the signed part, the signature) of a query string or form body."""
    if not raw:
        return "", None
    kept, signature = [], None
    for part in raw.split("&"):
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


class _Handler(BaseHTTPRequestHandler):
    simulator: BinanceFuturesSim
    server_version = "sim-binance/1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        sim = self.simulator
        split = urlsplit(self.path)
        path, query = split.path, split.query
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("ascii", errors="replace") if length else ""
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = RecordedRequest(method, path, params, headers)
        with sim._lock:
            sim.requests.append(record)
        if sim.redirect_to is not None:
            self._send(record, 307, b"", {"Location": sim.redirect_to + self.path})
            return
        if sim._take_injection(method, path, {"drop"}, params):
            # Close without a response, like a reset connection in the middle of a request.
            self.close_connection = True
            record.status = -1
            return
        try:
            with sim._lock:
                sim._charge_weight(method, path, params)
                for kind, status, code in (
                    ("server_error", 503, -1001),
                    ("ban", 418, -1003),
                    ("rate_limit", 429, -1003),
                ):
                    inj = sim._take_injection(method, path, {kind}, params)
                    if inj is not None:
                        msg = (
                            "Internal error; unable to process your request. Please try again."
                            if status == 503
                            else "Too many requests."
                        )
                        if status in {418, 429}:
                            # Calling again before Retry-After ends earns a ban, as on the venue.
                            sim._weight.blocked_until = time.time() + inj.retry_after
                        raise SimError(status, code, msg, retry_after=inj.retry_after)
                if path not in PUBLIC_PATHS:
                    sim._verify_signed(headers, query, body, params)
                if sim._take_injection(method, path, {"timestamp"}, params):
                    raise SimError(
                        400, -1021, "Timestamp for this request is outside of the recvWindow."
                    )
                applied_then_fail = sim._take_injection(method, path, {"apply_then_503"}, params)
                result = sim.dispatch(method, path, params)
                if applied_then_fail is not None:
                    raise SimError(
                        503, -1001, "Unknown error, please check your request or try again later."
                    )
        except SimError as exc:
            extra = {}
            if exc.retry_after is not None:
                extra["Retry-After"] = str(exc.retry_after)
            if exc.status == 404:
                self._send(
                    record, 404, b"<html><body>404 Not Found</body></html>", extra, code=None
                )
                return
            payload = json.dumps({"code": exc.code, "msg": exc.msg}).encode()
            self._send(record, exc.status, payload, extra, code=exc.code)
            return
        self._send(record, 200, json.dumps(result).encode(), {})

    def _send(
        self,
        record: RecordedRequest,
        status: int,
        payload: bytes,
        extra: dict[str, str],
        code: int | None = None,
    ) -> None:
        record.status, record.code = status, code
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        name, used = self.simulator.weight_header()
        self.send_header(name, used)
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)


def iter_orders(sim: BinanceFuturesSim) -> Iterator[dict[str, str]]:
    """Parameters of every order request the simulator received."""
    for request in sim.order_requests():
        yield request.params
