#!/usr/bin/env python3
"""Nuclear option: cancel every open order and close every position on Binance USD-M futures.

One self-contained file on purpose: it must work when the cluster, NATS, Redis and the
database are all gone, so it uses only the Python standard library, imports nothing from the
Django apps, and can be copied to any machine with Python 3.11 and run as is.

Procedure with ``--execute --confirm CLOSE-ALL``:

1. Load the API keys from the environment (never argv) and sync with the server clock.
2. Read exchange filters, position mode, positions, open orders and open algo orders.
3. With ``--if-drawdown-above``: compare the account equity with the stored peak and stop
   unless the drawdown is above the threshold.
4. With ``--hibernate``: write the hibernate marker and publish a fleet halt *before* touching
   the account, so bots stop opening new exposure while it is being flattened.
5. Each round: cancel all open orders and algo orders per symbol, send MARKET orders that can
   only reduce, re-read the account; stop when flat or after ``--max-rounds``.
6. Print a JSON report on stdout and a human summary on stderr.

Without ``--execute`` it is a dry run: it reads the account, prints the plan and exits 0.

Exit codes: 0 flat (or dry run done), 1 partially closed, 2 configuration or authentication
error, 3 exchange refused or unreachable (nothing closed).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import secrets
import socket
import ssl
import sys
import time
import traceback
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

EXIT_FLAT = 0
EXIT_PARTIAL = 1
EXIT_CONFIG = 2
EXIT_REFUSED = 3

PRODUCTION_BASE_URL = "https://fapi.binance.com"
TESTNET_BASE_URL = "https://testnet.binancefuture.com"
CONFIRM_PHRASE = "CLOSE-ALL"
HALT_SUBJECT = "cio.fleet.halt"
USER_AGENT = "petrosa-canary-nuclear-option/1"

# Codes that mean "these keys will never work": retrying cannot help, the operator must act.
AUTH_ERROR_CODES = frozenset({-1002, -1022, -2014, -2015})
TIMESTAMP_ERROR_CODE = -1021
# The venue caps recvWindow at 60 s; a larger value is rejected outright.
MAX_RECV_WINDOW_MS = 60_000
# Fraction of the request-weight budget we allow ourselves before waiting for the next window,
# so an operator's other tools on the same IP keep some headroom.
WEIGHT_HEADROOM = Decimal("0.9")
MAX_CHUNKS_PER_POSITION = 200

_INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class CanaryError(Exception):
    """Base error carrying the process exit code it maps to."""

    exit_code = EXIT_REFUSED
    kind = "error"


class ConfigError(CanaryError):
    """Bad or missing configuration: fix the environment or arguments and rerun."""

    exit_code = EXIT_CONFIG
    kind = "config"


class AuthError(CanaryError):
    """The venue rejected the keys or the signature."""

    exit_code = EXIT_CONFIG
    kind = "auth"


class ExchangeRefused(CanaryError):
    """The venue answered with an error, or could not be reached after retries."""

    kind = "exchange"

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class OutcomeUnknown(ExchangeRefused):
    """A mutating request may or may not have been applied; the next read tells."""

    kind = "outcome_unknown"


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """API key pair; repr never shows either value."""

    api_key: str = field(repr=False)
    secret: bytes = field(repr=False)

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"


@dataclass(frozen=True)
class Settings:
    """Everything read from the environment, validated once."""

    base_url: str
    nats_url: str
    marker_path: Path
    state_path: Path
    recv_window_ms: int
    http_timeout_s: float
    max_retries: int
    backoff_base_s: float
    max_wait_s: float
    round_pause_s: float
    nats_timeout_s: float


def _env_secret(env: Mapping[str, str], name: str) -> str | None:
    direct = env.get(name, "")
    file_path = env.get(f"{name}_FILE", "")
    if direct and file_path:
        raise ConfigError(f"set only one of {name} and {name}_FILE")
    if file_path:
        try:
            value = Path(file_path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE cannot be read: {exc.strerror}") from exc
        return value or None
    return direct.strip() or None


def _check_key_material(name: str, value: str) -> None:
    # A newline or space in a header value is either a copy-paste accident or header injection.
    if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
        raise ConfigError(f"{name} contains whitespace or non-printable characters")


def load_credentials(env: Mapping[str, str]) -> Credentials:
    """Read the key pair from BINANCE_API_KEY/_SECRET or their *_FILE variants."""
    api_key = _env_secret(env, "BINANCE_API_KEY")
    secret = _env_secret(env, "BINANCE_API_SECRET")
    if api_key is None or secret is None:
        pairs = (("BINANCE_API_KEY", api_key), ("BINANCE_API_SECRET", secret))
        missing = [name for name, value in pairs if not value]
        raise ConfigError(f"missing {', '.join(missing)} (or the matching *_FILE)")
    _check_key_material("BINANCE_API_KEY", api_key)
    _check_key_material("BINANCE_API_SECRET", secret)
    return Credentials(api_key=api_key, secret=secret.encode("ascii"))


def _env_number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc
    if value != value or value < minimum:
        raise ConfigError(f"{name}={raw!r} is out of range (minimum {minimum})")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_base_url(url: str) -> str:
    """Accept https anywhere, plain http only on loopback (keys never cross a network in clear)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ConfigError(f"BINANCE_FUTURES_BASE_URL={url!r} is not an http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError("BINANCE_FUTURES_BASE_URL must use https unless it points to loopback")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError("BINANCE_FUTURES_BASE_URL must not carry a query, fragment or userinfo")
    return url.rstrip("/")


def load_settings(env: Mapping[str, str], *, recv_window_ms: int | None = None) -> Settings:
    """Validate the non-secret settings; raises ConfigError on the first bad value."""
    base_url = validate_base_url(env.get("BINANCE_FUTURES_BASE_URL", "") or PRODUCTION_BASE_URL)
    recv = recv_window_ms
    if recv is None:
        recv = int(_env_number(env, "CANARY_RECV_WINDOW_MS", 5000, minimum=1))
    if not 1 <= recv <= MAX_RECV_WINDOW_MS:
        raise ConfigError(f"recvWindow must be between 1 and {MAX_RECV_WINDOW_MS} ms")
    return Settings(
        base_url=base_url,
        nats_url=env.get("CANARY_NATS_URL", "") or "nats://127.0.0.1:4222",
        marker_path=Path(env.get("CANARY_HIBERNATE_MARKER", "") or "./canary-hibernate.json"),
        state_path=Path(env.get("CANARY_STATE_FILE", "") or "./canary-state.json"),
        recv_window_ms=recv,
        http_timeout_s=_env_number(env, "CANARY_HTTP_TIMEOUT_S", 10.0, minimum=0.1),
        max_retries=int(_env_number(env, "CANARY_MAX_RETRIES", 5, minimum=0)),
        backoff_base_s=_env_number(env, "CANARY_BACKOFF_BASE_S", 0.5, minimum=0.0),
        max_wait_s=_env_number(env, "CANARY_MAX_WAIT_S", 120.0, minimum=0.0),
        round_pause_s=_env_number(env, "CANARY_ROUND_PAUSE_S", 1.0, minimum=0.0),
        nats_timeout_s=_env_number(env, "CANARY_NATS_TIMEOUT_S", 2.0, minimum=0.1),
    )


# --------------------------------------------------------------------------------------------
# JSON helpers (the venue sends numbers as strings; we keep them as Decimal)
# --------------------------------------------------------------------------------------------


def _as_dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ExchangeRefused(f"unexpected response shape for {what}")
    return value


def _as_list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ExchangeRefused(f"unexpected response shape for {what}")
    return value


def _dec(row: Mapping[str, Any], key: str, default: str | None = None) -> Decimal:
    raw = row.get(key, default)
    if raw is None:
        raise ExchangeRefused(f"response field {key!r} is missing")
    try:
        return Decimal(str(raw))
    except InvalidOperation as exc:
        raise ExchangeRefused(f"response field {key!r}={raw!r} is not a number") from exc


def _text(row: Mapping[str, Any], key: str, default: str | None = None) -> str:
    raw = row.get(key, default)
    if raw is None:
        raise ExchangeRefused(f"response field {key!r} is missing")
    return str(raw)


def _fmt(value: Decimal) -> str:
    return format(value, "f")


def utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------
# HTTP transport and signed client
# --------------------------------------------------------------------------------------------


class _NotSent(Exception):
    """Connecting failed: the request never left, so any request may be retried."""


class _NoResponse(Exception):
    """The request may have reached the venue but no response came back."""


@dataclass(frozen=True)
class _Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class _Transport:
    """One short-lived connection per request: no redirects, no proxies, nothing implicit.

    http.client instead of urllib because urllib follows redirects with the headers attached
    (the API key would go to whatever host a redirect names) and silently honours *_PROXY.
    """

    def __init__(self, base_url: str, timeout_s: float) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout_s
        self._tls = ssl.create_default_context() if self._https else None

    def request(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> _Response:
        conn: http.client.HTTPConnection
        if self._tls is not None:
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=self._tls
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            try:
                conn.connect()
            except (OSError, http.client.HTTPException) as exc:
                raise _NotSent(type(exc).__name__) from exc
            try:
                conn.request(method, self._prefix + path, body=body, headers=dict(headers))
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                raise _NoResponse(type(exc).__name__) from exc
            return _Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()


@dataclass
class _WeightBudget:
    limit: int = 2400
    window_s: int = 60
    header: str = "x-mbx-used-weight-1m"
    used: int | None = None
    window_index: int = -1


class BinanceFuturesClient:
    """Signed REST client for USD-M futures with time sync, rate-limit and retry handling."""

    def __init__(
        self,
        settings: Settings,
        credentials: Credentials,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._transport = _Transport(settings.base_url, settings.http_timeout_s)
        self._sleep = sleep
        self._clock = clock
        self._on_event = on_event or (lambda _event: None)
        self._offset_ms = 0
        self._budget = _WeightBudget()

    # -- time ---------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return round(self._clock() * 1000) + self._offset_ms

    def sync_time(self) -> int:
        """Measure the offset to the server clock (midpoint of the round trip)."""
        before = self._clock()
        payload = _as_dict(self.public("GET", "/fapi/v1/time", weight=1), "time")
        after = self._clock()
        server_ms = int(_dec(payload, "serverTime"))
        self._offset_ms = server_ms - int((before + after) / 2 * 1000)
        return self._offset_ms

    # -- rate limits --------------------------------------------------------------------------

    def configure_rate_limits(self, exchange_info: Mapping[str, Any]) -> None:
        """Adopt the REQUEST_WEIGHT limit the venue publishes in exchangeInfo."""
        for item in exchange_info.get("rateLimits", []) or []:
            if not isinstance(item, dict) or item.get("rateLimitType") != "REQUEST_WEIGHT":
                continue
            interval = str(item.get("interval", "MINUTE"))
            num = int(item.get("intervalNum", 1))
            if interval not in _INTERVAL_SECONDS or num < 1:
                continue
            self._budget.limit = int(item.get("limit", self._budget.limit))
            self._budget.window_s = _INTERVAL_SECONDS[interval] * num
            self._budget.header = f"x-mbx-used-weight-{num}{interval[0]}".lower()
            return

    def _note_weight(self, headers: Mapping[str, str]) -> None:
        raw = headers.get(self._budget.header)
        if raw is None:
            return
        try:
            self._budget.used = int(raw)
        except ValueError:
            return
        self._budget.window_index = self._now_ms() // (self._budget.window_s * 1000)

    def _throttle(self, weight: int) -> None:
        budget = self._budget
        if budget.used is None:
            return
        window_ms = budget.window_s * 1000
        now_ms = self._now_ms()
        if now_ms // window_ms != budget.window_index:
            budget.used = 0
            return
        if budget.used + weight <= int(budget.limit * WEIGHT_HEADROOM):
            return
        wait = min((window_ms - now_ms % window_ms) / 1000 + 0.05, self._settings.max_wait_s)
        self._on_event({"event": "weight_wait", "used": budget.used, "seconds": round(wait, 3)})
        self._sleep(wait)
        budget.used = 0

    # -- requests -----------------------------------------------------------------------------

    def public(
        self, method: str, path: str, params: Sequence[tuple[str, str]] = (), *, weight: int
    ) -> Any:
        return self._call(method, path, params, signed=False, weight=weight, retry_unsafe=True)

    def signed(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        weight: int,
        retry_unsafe: bool = True,
    ) -> Any:
        return self._call(
            method, path, params, signed=True, weight=weight, retry_unsafe=retry_unsafe
        )

    def _encode(self, params: Sequence[tuple[str, str]], signed: bool) -> str:
        items = list(params)
        if not signed:
            return urllib.parse.urlencode(items)
        items += [
            ("recvWindow", str(self._settings.recv_window_ms)),
            ("timestamp", str(self._now_ms())),
        ]
        query = urllib.parse.urlencode(items)
        signature = hmac.new(self._credentials.secret, query.encode("ascii"), hashlib.sha256)
        return f"{query}&signature={signature.hexdigest()}"

    def _backoff(self, attempt: int) -> float:
        return float(min(self._settings.backoff_base_s * (2**attempt), self._settings.max_wait_s))

    def _call(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]],
        *,
        signed: bool,
        weight: int,
        retry_unsafe: bool,
    ) -> Any:
        attempt = 0
        timestamp_retries = 0
        while True:
            self._throttle(weight)
            encoded = self._encode(params, signed)
            headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
            if signed:
                headers["X-MBX-APIKEY"] = self._credentials.api_key
            body: bytes | None = None
            target = path
            # POST parameters travel in the body, as in the venue's own examples; they stay
            # out of access logs that record URLs.
            if method == "POST":
                body = encoded.encode("ascii")
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            elif encoded:
                target = f"{path}?{encoded}"
            try:
                resp = self._transport.request(method, target, body, headers)
            except _NotSent as exc:
                attempt = self._retry_or_raise(attempt, path, f"connect failed ({exc})")
                continue
            except _NoResponse as exc:
                if not retry_unsafe:
                    raise OutcomeUnknown(f"{method} {path}: no response ({exc})") from exc
                attempt = self._retry_or_raise(attempt, path, f"no response ({exc})")
                continue
            self._note_weight(resp.headers)
            if 200 <= resp.status < 300:
                try:
                    return json.loads(resp.body.decode("utf-8"), parse_float=Decimal)
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise ExchangeRefused(f"{path}: response is not JSON") from exc
            code, msg = _error_fields(resp.body)
            if 300 <= resp.status < 400:
                # Following a redirect would hand the API key to a host we did not choose.
                raise ConfigError(
                    f"{path}: HTTP {resp.status} redirect refused; check BINANCE_FUTURES_BASE_URL"
                )
            if resp.status in {418, 429}:
                attempt = self._wait_rate_limit(resp, attempt, path, code, msg)
                continue
            if code == TIMESTAMP_ERROR_CODE and timestamp_retries < 2:
                timestamp_retries += 1
                self._on_event({"event": "time_resync", "path": path, "msg": msg})
                self.sync_time()
                continue
            if resp.status == 401 or code in AUTH_ERROR_CODES:
                raise AuthError(f"{path}: authentication refused (code {code}: {msg})")
            if resp.status >= 500:
                if not retry_unsafe:
                    raise OutcomeUnknown(
                        f"{method} {path}: HTTP {resp.status} ({msg})",
                        status=resp.status,
                        code=code,
                    )
                attempt = self._retry_or_raise(attempt, path, f"HTTP {resp.status} ({msg})")
                continue
            raise ExchangeRefused(
                f"{path}: HTTP {resp.status} code {code}: {msg}", status=resp.status, code=code
            )

    def _retry_or_raise(self, attempt: int, path: str, reason: str) -> int:
        if attempt >= self._settings.max_retries:
            raise ExchangeRefused(f"{path}: giving up after {attempt + 1} attempts: {reason}")
        delay = self._backoff(attempt)
        self._on_event({"event": "retry", "path": path, "reason": reason, "seconds": delay})
        self._sleep(delay)
        return attempt + 1

    def _wait_rate_limit(
        self, resp: _Response, attempt: int, path: str, code: int | None, msg: str
    ) -> int:
        try:
            retry_after = float(resp.headers.get("retry-after", ""))
        except ValueError:
            retry_after = self._backoff(attempt)
        banned = resp.status == 418
        if retry_after > self._settings.max_wait_s or attempt >= self._settings.max_retries:
            what = "IP banned" if banned else "rate limited"
            raise ExchangeRefused(
                f"{path}: {what} (HTTP {resp.status}, code {code}: {msg}), "
                f"Retry-After {retry_after:g}s",
                status=resp.status,
                code=code,
            )
        self._on_event(
            {
                "event": "banned_wait" if banned else "rate_limit_wait",
                "path": path,
                "seconds": retry_after,
            }
        )
        # The venue escalates to an IP ban for clients that keep calling during Retry-After.
        self._sleep(retry_after)
        self._budget.used = 0
        return attempt + 1


def _error_fields(body: bytes) -> tuple[int | None, str]:
    text = body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        return None, text[:200].strip() or "(empty body)"
    if isinstance(payload, dict):
        code = payload.get("code")
        return (int(code) if isinstance(code, int) else None), str(payload.get("msg", ""))[:300]
    return None, text[:200]


# --------------------------------------------------------------------------------------------
# Domain: positions, filters, plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotFilter:
    """Quantity rules for MARKET orders on one symbol."""

    step: Decimal
    min_qty: Decimal
    max_qty: Decimal


@dataclass(frozen=True)
class SymbolRules:
    """Exchange filters that matter for closing a position."""

    symbol: str
    market_lot: LotFilter
    min_notional: Decimal | None


@dataclass(frozen=True)
class Position:
    """One non-zero position leg as reported by positionRisk."""

    symbol: str
    position_side: str
    amount: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal

    @property
    def notional(self) -> Decimal:
        return abs(self.amount) * self.mark_price


@dataclass(frozen=True)
class OpenOrder:
    """An open order (regular or algo) that would survive the close if not cancelled."""

    symbol: str
    kind: str
    order_id: str
    order_type: str
    side: str
    quantity: str


@dataclass(frozen=True)
class Snapshot:
    """What the account looked like at one read."""

    hedge_mode: bool
    positions: tuple[Position, ...]
    open_orders: tuple[OpenOrder, ...]
    algo_supported: bool = True


@dataclass(frozen=True)
class CloseOrder:
    """One MARKET order that can only reduce a position."""

    symbol: str
    side: str
    quantity: Decimal
    position_side: str | None
    reduce_only: bool

    def params(self, client_order_id: str) -> list[tuple[str, str]]:
        params = [
            ("symbol", self.symbol),
            ("side", self.side),
            ("type", "MARKET"),
            ("quantity", _fmt(self.quantity)),
        ]
        if self.position_side is not None:
            params.append(("positionSide", self.position_side))
        if self.reduce_only:
            params.append(("reduceOnly", "true"))
        params += [("newClientOrderId", client_order_id), ("newOrderRespType", "RESULT")]
        return params


@dataclass(frozen=True)
class PositionPlan:
    """How one position leg gets closed, and what is left as untradeable dust."""

    position: Position
    orders: tuple[CloseOrder, ...]
    dust: Decimal
    note: str = ""


@dataclass(frozen=True)
class CancelStep:
    """Symbols whose open orders get cancelled, by endpoint."""

    symbol: str
    open_orders: int
    open_algo_orders: int


@dataclass(frozen=True)
class Plan:
    """Everything a round would do; empty means the scope is flat."""

    hedge_mode: bool
    cancels: tuple[CancelStep, ...]
    closes: tuple[PositionPlan, ...]

    @property
    def closable(self) -> tuple[PositionPlan, ...]:
        return tuple(p for p in self.closes if p.orders)

    @property
    def dust_only(self) -> tuple[PositionPlan, ...]:
        return tuple(p for p in self.closes if not p.orders)

    @property
    def is_flat(self) -> bool:
        return not self.cancels and not self.closable

    @property
    def total_notional(self) -> Decimal:
        return sum((p.position.notional for p in self.closes), Decimal(0))


def round_down_to_step(quantity: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of ``step`` not above ``quantity`` (quantity >= 0)."""
    if step <= 0:
        return quantity
    units = (quantity / step).to_integral_value(rounding=ROUND_DOWN)
    # Quantize to the step's exponent so "10" and "1E+1" both print as the venue expects.
    return (units * step).quantize(step)


def split_quantity(quantity: Decimal, lot: LotFilter) -> tuple[list[Decimal], Decimal]:
    """Split an absolute quantity into lot-valid chunks; return (chunks, untradeable dust).

    Rounds down, never up: rounding up would ask to close more than exists, which a
    reduce-only order must not do.
    """
    tradeable = round_down_to_step(quantity, lot.step)
    if tradeable <= 0 or tradeable < lot.min_qty:
        return [], quantity
    max_chunk = round_down_to_step(lot.max_qty, lot.step) if lot.max_qty > 0 else tradeable
    if max_chunk <= 0 or max_chunk < lot.min_qty:
        max_chunk = tradeable
    chunks: list[Decimal] = []
    remaining = tradeable
    while remaining > max_chunk and len(chunks) < MAX_CHUNKS_PER_POSITION - 1:
        chunks.append(max_chunk)
        remaining -= max_chunk
    if remaining > max_chunk:
        # Too many chunks for one round; the next round re-reads the position and continues.
        chunks.append(max_chunk)
    elif remaining >= lot.min_qty:
        chunks.append(remaining)
    elif chunks and chunks[-1] - (lot.min_qty - remaining) >= lot.min_qty:
        # Borrow from the previous chunk so the tail is still tradeable.
        chunks[-1] -= lot.min_qty - remaining
        chunks.append(lot.min_qty)
    return chunks, quantity - sum(chunks, Decimal(0))


def plan_position(position: Position, rules: SymbolRules | None, hedge_mode: bool) -> PositionPlan:
    """Closing orders for one leg: side from the signed amount, reduce-only by mode."""
    # A short (negative amount) is closed by a buy, a long by a sell, in both modes.
    side = "SELL" if position.amount > 0 else "BUY"
    quantity = abs(position.amount)
    note = ""
    if rules is None:
        # No filters (symbol missing from exchangeInfo): send the exact amount and let the
        # venue judge; positions are always a multiple of the step they were opened with.
        chunks, dust = [quantity], Decimal(0)
        note = "no exchange filters for symbol; exact amount sent"
    else:
        chunks, dust = split_quantity(quantity, rules.market_lot)
        if not chunks:
            note = f"below minimum market quantity {_fmt(rules.market_lot.min_qty)}"
    # Hedge mode refuses reduceOnly; naming the leg with the opposite side can only reduce it.
    position_side = position.position_side if hedge_mode else None
    orders = tuple(
        CloseOrder(
            symbol=position.symbol,
            side=side,
            quantity=q,
            position_side=position_side,
            reduce_only=not hedge_mode,
        )
        for q in chunks
    )
    return PositionPlan(position=position, orders=orders, dust=dust, note=note)


def build_plan(snapshot: Snapshot, rules: Mapping[str, SymbolRules]) -> Plan:
    """Turn a snapshot (already restricted to the scope) into cancel and close steps."""
    counts: dict[str, list[int]] = {}
    for order in snapshot.open_orders:
        slot = counts.setdefault(order.symbol, [0, 0])
        slot[1 if order.kind == "algo" else 0] += 1
    cancels = tuple(
        CancelStep(symbol=s, open_orders=c[0], open_algo_orders=c[1])
        for s, c in sorted(counts.items())
    )
    closes = tuple(
        plan_position(p, rules.get(p.symbol), snapshot.hedge_mode)
        for p in sorted(snapshot.positions, key=lambda p: (p.symbol, p.position_side))
    )
    return Plan(hedge_mode=snapshot.hedge_mode, cancels=cancels, closes=closes)


# --------------------------------------------------------------------------------------------
# Venue reads and writes
# --------------------------------------------------------------------------------------------


def _lot(raw: Mapping[str, Any]) -> LotFilter:
    return LotFilter(
        step=_dec(raw, "stepSize"), min_qty=_dec(raw, "minQty"), max_qty=_dec(raw, "maxQty")
    )


def read_exchange_rules(client: BinanceFuturesClient) -> dict[str, SymbolRules]:
    """Filters per symbol; MARKET_LOT_SIZE wins over LOT_SIZE because we only send markets."""
    info = _as_dict(client.public("GET", "/fapi/v1/exchangeInfo", weight=1), "exchangeInfo")
    client.configure_rate_limits(info)
    rules: dict[str, SymbolRules] = {}
    for raw_symbol in _as_list(info.get("symbols", []), "exchangeInfo.symbols"):
        sym = _as_dict(raw_symbol, "exchangeInfo.symbol")
        filters = {
            str(f.get("filterType")): f for f in sym.get("filters", []) if isinstance(f, dict)
        }
        lot_raw = filters.get("MARKET_LOT_SIZE") or filters.get("LOT_SIZE")
        if lot_raw is None:
            continue
        notional_raw = filters.get("MIN_NOTIONAL")
        min_notional = None
        if notional_raw is not None:
            min_notional = _dec(notional_raw, "notional", notional_raw.get("minNotional"))
        name = _text(sym, "symbol")
        rules[name] = SymbolRules(symbol=name, market_lot=_lot(lot_raw), min_notional=min_notional)
    return rules


def read_hedge_mode(client: BinanceFuturesClient) -> bool:
    payload = _as_dict(
        client.signed("GET", "/fapi/v1/positionSide/dual", weight=30), "positionSide/dual"
    )
    value = payload.get("dualSidePosition")
    return value is True or str(value).lower() == "true"


def read_positions(client: BinanceFuturesClient) -> list[Position]:
    """Non-zero legs; v3 lists only symbols with exposure, v2 is the fallback where v3 is absent."""
    try:
        rows = client.signed("GET", "/fapi/v3/positionRisk", weight=5)
    except ExchangeRefused as exc:
        if exc.status != 404:
            raise
        rows = client.signed("GET", "/fapi/v2/positionRisk", weight=5)
    positions = []
    for raw in _as_list(rows, "positionRisk"):
        row = _as_dict(raw, "positionRisk row")
        amount = _dec(row, "positionAmt")
        if amount == 0:
            continue
        positions.append(
            Position(
                symbol=_text(row, "symbol"),
                position_side=_text(row, "positionSide", "BOTH"),
                amount=amount,
                mark_price=_dec(row, "markPrice", "0"),
                unrealized_pnl=_dec(row, "unRealizedProfit", "0"),
            )
        )
    return positions


def read_open_orders(client: BinanceFuturesClient) -> list[OpenOrder]:
    rows = _as_list(client.signed("GET", "/fapi/v1/openOrders", weight=40), "openOrders")
    return [
        OpenOrder(
            symbol=_text(r, "symbol"),
            kind="order",
            order_id=_text(r, "orderId"),
            order_type=_text(r, "type", "?"),
            side=_text(r, "side", "?"),
            quantity=_text(r, "origQty", "0"),
        )
        for r in (_as_dict(x, "openOrders row") for x in rows)
    ]


def read_open_algo_orders(client: BinanceFuturesClient) -> list[OpenOrder] | None:
    """Conditional orders live in the venue's Algo Service; None where it does not exist."""
    try:
        rows = client.signed("GET", "/fapi/v1/openAlgoOrders", weight=40)
    except ExchangeRefused as exc:
        if exc.status == 404:
            return None
        raise
    return [
        OpenOrder(
            symbol=_text(r, "symbol"),
            kind="algo",
            order_id=_text(r, "algoId"),
            order_type=_text(r, "orderType", _text(r, "type", "?")),
            side=_text(r, "side", "?"),
            quantity=_text(r, "quantity", "0"),
        )
        for r in (_as_dict(x, "openAlgoOrders row") for x in _as_list(rows, "openAlgoOrders"))
    ]


def read_equity(client: BinanceFuturesClient) -> Decimal:
    account = _as_dict(client.signed("GET", "/fapi/v2/account", weight=5), "account")
    return _dec(account, "totalMarginBalance")


def read_snapshot(
    client: BinanceFuturesClient, hedge_mode: bool, scope: frozenset[str] | None
) -> Snapshot:
    def in_scope(symbol: str) -> bool:
        return scope is None or symbol in scope

    positions = [p for p in read_positions(client) if in_scope(p.symbol)]
    orders = [o for o in read_open_orders(client) if in_scope(o.symbol)]
    algo = read_open_algo_orders(client)
    if algo is not None:
        orders += [o for o in algo if in_scope(o.symbol)]
    return Snapshot(
        hedge_mode=hedge_mode,
        positions=tuple(positions),
        open_orders=tuple(orders),
        algo_supported=algo is not None,
    )


def cancel_symbol_orders(client: BinanceFuturesClient, step: CancelStep) -> dict[str, Any]:
    """Cancel both kinds of open orders on one symbol; failures are reported, not raised."""
    result: dict[str, Any] = {"symbol": step.symbol}
    calls = [
        ("orders", "/fapi/v1/allOpenOrders", step.open_orders),
        ("algo_orders", "/fapi/v1/algoOpenOrders", step.open_algo_orders),
    ]
    for label, path, count in calls:
        if count == 0:
            continue
        try:
            client.signed("DELETE", path, [("symbol", step.symbol)], weight=1)
            result[label] = "cancelled"
        except (AuthError, ConfigError):
            raise
        except CanaryError as exc:
            result[label] = f"failed: {exc}"
    return result


def place_close_order(
    client: BinanceFuturesClient, order: CloseOrder, client_order_id: str
) -> dict[str, Any]:
    """Send one closing order; never retried blindly because a MARKET order is not idempotent."""
    entry: dict[str, Any] = {
        "symbol": order.symbol,
        "side": order.side,
        "position_side": order.position_side,
        "quantity": _fmt(order.quantity),
        "reduce_only": order.reduce_only,
        "client_order_id": client_order_id,
    }
    try:
        resp = _as_dict(
            client.signed(
                "POST",
                "/fapi/v1/order",
                order.params(client_order_id),
                weight=1,
                retry_unsafe=False,
            ),
            "order",
        )
    except (AuthError, ConfigError):
        raise
    except OutcomeUnknown as exc:
        entry.update(status="UNKNOWN", error=str(exc))
        return entry
    except CanaryError as exc:
        code = exc.code if isinstance(exc, ExchangeRefused) else None
        entry.update(status="REJECTED", error=str(exc), code=code)
        return entry
    entry.update(
        status=_text(resp, "status", "?"),
        order_id=resp.get("orderId"),
        executed_qty=_text(resp, "executedQty", "0"),
        avg_price=_text(resp, "avgPrice", "0"),
    )
    return entry


# --------------------------------------------------------------------------------------------
# Drawdown trigger, hibernate marker, NATS fleet halt
# --------------------------------------------------------------------------------------------


def _write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    # Write-then-rename so a crash mid-write never leaves a half file that a cron run misreads.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class DrawdownCheck:
    """Result of comparing current equity with the stored peak."""

    equity: Decimal
    peak: Decimal
    drawdown: Decimal
    threshold: Decimal
    new_peak: bool

    @property
    def triggered(self) -> bool:
        return self.drawdown > self.threshold

    def as_json(self) -> dict[str, Any]:
        return {
            "equity": _fmt(self.equity),
            "peak": _fmt(self.peak),
            "drawdown": _fmt(self.drawdown.quantize(Decimal("0.000001"))),
            "threshold": _fmt(self.threshold),
            "triggered": self.triggered,
            "new_peak": self.new_peak,
        }


def evaluate_drawdown(
    equity: Decimal, threshold: Decimal, state_path: Path, now: datetime
) -> DrawdownCheck:
    """Compare equity with the stored peak, raising the peak when equity is higher."""
    state: dict[str, Any] = {}
    if state_path.exists():
        try:
            state = _as_dict(json.loads(state_path.read_text(encoding="utf-8")), "state")
            peak = Decimal(str(state.get("peak_equity", equity)))
        except (OSError, ValueError, InvalidOperation, ExchangeRefused) as exc:
            raise ConfigError(f"CANARY_STATE_FILE {state_path} is unreadable: {exc}") from exc
    else:
        peak = equity
    new_peak = equity > peak or "peak_equity" not in state
    if equity > peak:
        peak = equity
    drawdown = (peak - equity) / peak if peak > 0 else Decimal(0)
    state.update(
        last_equity=_fmt(equity),
        last_checked_at=now.isoformat(),
        last_drawdown=_fmt(drawdown.quantize(Decimal("0.000001"))),
    )
    if new_peak:
        state.update(peak_equity=_fmt(peak), peak_at=now.isoformat())
    try:
        _write_json_atomic(state_path, state)
    except OSError as exc:
        raise ConfigError(f"CANARY_STATE_FILE {state_path} cannot be written: {exc}") from exc
    return DrawdownCheck(
        equity=equity, peak=peak, drawdown=drawdown, threshold=threshold, new_peak=new_peak
    )


def reset_peak(equity: Decimal, state_path: Path, now: datetime) -> dict[str, str]:
    """Re-arm the drawdown trigger after an incident: the current equity becomes the peak."""
    state = {"peak_equity": _fmt(equity), "peak_at": now.isoformat(), "reset_at": now.isoformat()}
    try:
        _write_json_atomic(state_path, state)
    except OSError as exc:
        raise ConfigError(f"CANARY_STATE_FILE {state_path} cannot be written: {exc}") from exc
    return state


def halt_message(reason: str, now: datetime) -> dict[str, str]:
    return {"source": "canary", "action": "halt", "reason": reason, "timestamp": now.isoformat()}


def _nats_read_line(sock: socket.socket | ssl.SSLSocket, buffer: bytearray) -> bytes:
    while b"\r\n" not in buffer:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("NATS server closed the connection")
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\r\n")
    buffer[:] = rest
    return line


def nats_publish(url: str, subject: str, payload: bytes, timeout_s: float) -> None:
    """Publish one message with the NATS text protocol and wait for PONG as delivery proof.

    Raw socket instead of a client library: this script must stay standard-library only.
    Tries each comma-separated server URL in turn; raises OSError if none accepted it.
    """
    errors = []
    for one in [u.strip() for u in url.split(",") if u.strip()]:
        try:
            _nats_publish_one(one, subject, payload, timeout_s)
            return
        except (OSError, ValueError) as exc:
            errors.append(f"{urllib.parse.urlsplit(one).hostname}: {exc}")
    raise OSError("; ".join(errors) or "no NATS URL configured")


def _nats_publish_one(url: str, subject: str, payload: bytes, timeout_s: float) -> None:
    parts = urllib.parse.urlsplit(url if "://" in url else f"nats://{url}")
    host, port = parts.hostname or "127.0.0.1", parts.port or 4222
    deadline = time.monotonic() + timeout_s
    raw = socket.create_connection((host, port), timeout=timeout_s)
    sock: socket.socket | ssl.SSLSocket = raw
    try:
        buffer = bytearray()
        info_line = _nats_read_line(sock, buffer)
        if not info_line.startswith(b"INFO "):
            raise ValueError("server did not greet with INFO")
        info = json.loads(info_line[5:])
        if parts.scheme == "tls" or info.get("tls_required"):
            sock = ssl.create_default_context().wrap_socket(raw, server_hostname=host)
            buffer.clear()
        options: dict[str, Any] = {
            "verbose": False,
            "pedantic": False,
            "lang": "python-raw",
            "version": "1",
            "protocol": 1,
            "name": "petrosa-canary",
        }
        if parts.username and parts.password is not None:
            options["user"] = urllib.parse.unquote(parts.username)
            options["pass"] = urllib.parse.unquote(parts.password)
        elif parts.username:
            options["auth_token"] = urllib.parse.unquote(parts.username)
        sock.sendall(
            b"CONNECT "
            + json.dumps(options).encode()
            + b"\r\n"
            + f"PUB {subject} {len(payload)}\r\n".encode()
            + payload
            + b"\r\nPING\r\n"
        )
        while time.monotonic() < deadline:
            line = _nats_read_line(sock, buffer)
            if line == b"PONG":
                return
            if line.startswith(b"-ERR"):
                raise ValueError(line.decode(errors="replace"))
            if line == b"PING":
                sock.sendall(b"PONG\r\n")
        raise TimeoutError("no PONG from NATS")
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def hibernate(settings: Settings, reason: str, run_id: str, now: datetime) -> dict[str, Any]:
    """Write the marker and try to halt the fleet; the publish is best effort by design."""
    message = halt_message(reason, now)
    result: dict[str, Any] = {"requested": True, "marker": str(settings.marker_path)}
    try:
        _write_json_atomic(settings.marker_path, {**message, "run_id": run_id, "status": "closing"})
        result["marker_written"] = True
    except OSError as exc:
        result["marker_written"] = False
        result["marker_error"] = str(exc)
    try:
        nats_publish(
            settings.nats_url, HALT_SUBJECT, json.dumps(message).encode(), settings.nats_timeout_s
        )
        result["nats"] = "published"
    except OSError as exc:
        result["nats"] = f"not published: {exc}"
    return result


def finish_marker(path: Path, status: str, exit_code: int) -> None:
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(marker, dict):
            marker.update(status=status, exit_code=exit_code, finished_at=utc_now().isoformat())
            _write_json_atomic(path, marker)
    except (OSError, ValueError):
        pass


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "position_mode": "hedge" if plan.hedge_mode else "one-way",
        "cancel": [
            {
                "symbol": c.symbol,
                "open_orders": c.open_orders,
                "open_algo_orders": c.open_algo_orders,
            }
            for c in plan.cancels
        ],
        "close": [
            {
                "symbol": p.position.symbol,
                "position_side": p.position.position_side,
                "position_amt": _fmt(p.position.amount),
                "mark_price": _fmt(p.position.mark_price),
                "notional": _fmt(p.position.notional),
                "side": p.orders[0].side if p.orders else None,
                "orders": [_fmt(o.quantity) for o in p.orders],
                "dust": _fmt(p.dust),
                "note": p.note,
            }
            for p in plan.closes
        ],
        "total_notional": _fmt(plan.total_notional),
    }


def _exposure(snapshot: Snapshot) -> dict[tuple[str, str], Decimal]:
    return {(p.symbol, p.position_side): abs(p.amount) for p in snapshot.positions}


@dataclass
class Run:
    """Mutable state of one invocation, rendered into the JSON report at the end."""

    run_id: str
    mode: str
    settings: Settings | None
    scope: frozenset[str] | None
    report: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    progressed: bool = False


def execute_rounds(
    client: BinanceFuturesClient,
    run: Run,
    first: Snapshot,
    rules: Mapping[str, SymbolRules],
    *,
    max_rounds: int,
    round_pause_s: float,
    say: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> Snapshot:
    """Cancel, close, verify; repeat while anything remains, at most ``max_rounds`` times."""
    snapshot = first
    initial = _exposure(first)
    rounds: list[dict[str, Any]] = []
    run.report["rounds"] = rounds
    order_seq = 0
    for number in range(1, max_rounds + 1):
        plan = build_plan(snapshot, rules)
        if plan.is_flat:
            break
        entry: dict[str, Any] = {"round": number, "cancels": [], "orders": []}
        rounds.append(entry)
        # Cancel first: a resting order could re-open what we close, and resting reduce-only
        # orders can make the venue reject a new reduce-only order.
        for step in plan.cancels:
            result = cancel_symbol_orders(client, step)
            entry["cancels"].append(result)
            say(
                f"round {number}: cancel {step.symbol}: "
                + ", ".join(f"{k}={v}" for k, v in result.items() if k != "symbol")
            )
        for position_plan in plan.closable:
            for order in position_plan.orders:
                order_seq += 1
                coid = f"canary-{run.run_id}-{number}-{order_seq}"
                result = place_close_order(client, order, coid)
                entry["orders"].append(result)
                if Decimal(str(result.get("executed_qty", "0"))) > 0:
                    run.progressed = True
                say(
                    f"round {number}: {order.side} {_fmt(order.quantity)} {order.symbol}"
                    f"{' ' + order.position_side if order.position_side else ''}"
                    f" -> {result['status']}"
                    f"{' (' + str(result['error']) + ')' if 'error' in result else ''}"
                )
        if round_pause_s:
            sleep(round_pause_s)
        snapshot = read_snapshot(client, snapshot.hedge_mode, run.scope)
        remaining = _exposure(snapshot)
        if any(remaining.get(k, Decimal(0)) < v for k, v in initial.items()):
            run.progressed = True
    return snapshot


def final_json(plan: Plan) -> dict[str, Any]:
    return {
        "flat": plan.is_flat,
        "remaining": plan_json(plan)["close"],
        "dust": [
            {
                "symbol": p.position.symbol,
                "position_side": p.position.position_side,
                "position_amt": _fmt(p.position.amount),
            }
            for p in plan.dust_only
        ],
        "open_orders_left": sum(c.open_orders + c.open_algo_orders for c in plan.cancels),
    }


def _human_summary(report: Mapping[str, Any]) -> str:
    lines = [
        f"nuclear_option {report.get('mode')} run {report.get('run_id')}: "
        f"{report.get('status')} (exit {report.get('exit_code')})"
    ]
    plan = report.get("plan")
    if isinstance(plan, dict):
        lines.append(
            f"  position mode: {plan['position_mode']}; total notional {plan['total_notional']}"
        )
        for c in plan["cancel"]:
            lines.append(
                f"  cancel {c['symbol']}: {c['open_orders']} orders, "
                f"{c['open_algo_orders']} algo orders"
            )
        for p in plan["close"]:
            action = f"{p['side']} {' + '.join(p['orders'])}" if p["orders"] else "no order (dust)"
            lines.append(
                f"  close {p['symbol']} {p['position_side']} amt {p['position_amt']} "
                f"(notional {p['notional']}): {action}"
                f"{' dust ' + p['dust'] if Decimal(p['dust']) else ''}"
            )
    final = report.get("final")
    if isinstance(final, dict):
        left = len(final["remaining"]) - len(final["dust"])
        lines.append(
            f"  after {len(report.get('rounds', []))} round(s): "
            f"{'FLAT' if final['flat'] else 'NOT FLAT'}; {left} position(s) and "
            f"{final['open_orders_left']} open order(s) left, "
            f"{len(final['dust'])} dust leg(s)"
        )
    drawdown = report.get("drawdown")
    if isinstance(drawdown, dict):
        lines.append(
            f"  drawdown {drawdown['drawdown']} vs threshold {drawdown['threshold']} "
            f"(equity {drawdown['equity']}, peak {drawdown['peak']})"
        )
    hib = report.get("hibernate")
    if isinstance(hib, dict) and hib.get("would_write"):
        lines.append(
            f"  hibernate (dry run): would write {hib['would_write']} and publish {HALT_SUBJECT}"
        )
    elif isinstance(hib, dict) and hib.get("requested"):
        lines.append(
            f"  hibernate: marker {hib.get('marker')} "
            f"{'written' if hib.get('marker_written') else 'NOT written'}; "
            f"nats {hib.get('nats', 'skipped')}"
        )
    error = report.get("error")
    if isinstance(error, dict):
        lines.append(f"  ERROR ({error['kind']}): {error['message']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nuclear_option.py",
        description="Cancel all open orders and close all positions on Binance USD-M futures. "
        "Dry run unless --execute --confirm CLOSE-ALL is given.",
        epilog="Keys come only from BINANCE_API_KEY/BINANCE_API_SECRET or their *_FILE "
        f"variants. Testnet: BINANCE_FUTURES_BASE_URL={TESTNET_BASE_URL}. Exit codes: "
        "0 flat, 1 partially closed, 2 config/auth error, 3 exchange refused.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan only (default)")
    mode.add_argument("--execute", action="store_true", help="really cancel and close")
    parser.add_argument("--confirm", default="", help=f"must be {CONFIRM_PHRASE} with --execute")
    parser.add_argument(
        "--symbols", default="", help="comma-separated symbols to restrict the scope (default: all)"
    )
    parser.add_argument(
        "--hibernate",
        action="store_true",
        help="write the hibernate marker and publish a fleet halt on NATS",
    )
    parser.add_argument("--reason", default="", help="free text recorded in marker and halt")
    parser.add_argument(
        "--if-drawdown-above",
        type=Decimal,
        default=None,
        metavar="FRACTION",
        help="act only if drawdown from the stored equity peak exceeds this",
    )
    parser.add_argument(
        "--reset-peak",
        action="store_true",
        help="store the current equity as the drawdown peak (re-arm after an incident) and exit",
    )
    parser.add_argument("--max-rounds", type=int, default=5, help="close/verify rounds (5)")
    parser.add_argument(
        "--recv-window",
        type=int,
        default=None,
        metavar="MS",
        help="recvWindow in ms (default CANARY_RECV_WINDOW_MS or 5000)",
    )
    return parser


def _parse_scope(raw: str) -> frozenset[str] | None:
    symbols = frozenset(s.strip().upper() for s in raw.split(",") if s.strip())
    for symbol in symbols:
        if not symbol.replace("_", "").isalnum():
            raise ConfigError(f"--symbols: {symbol!r} is not a symbol")
    return symbols or None


def _run(
    args: argparse.Namespace, env: Mapping[str, str], run: Run, say: Callable[[str], None]
) -> int:
    report = run.report
    if args.execute and args.confirm != CONFIRM_PHRASE:
        raise ConfigError(f"--execute needs --confirm {CONFIRM_PHRASE}")
    if args.max_rounds < 1 or args.max_rounds > 50:
        raise ConfigError("--max-rounds must be between 1 and 50")
    threshold: Decimal | None = args.if_drawdown_above
    if threshold is not None and not Decimal(0) < threshold < Decimal(1):
        raise ConfigError("--if-drawdown-above must be a fraction between 0 and 1, e.g. 0.20")
    settings = load_settings(env, recv_window_ms=args.recv_window)
    run.settings = settings
    report["base_url"] = settings.base_url
    credentials = load_credentials(env)

    client = BinanceFuturesClient(settings, credentials, on_event=run.events.append)
    client.sync_time()
    if args.reset_peak:
        report["peak"] = reset_peak(read_equity(client), settings.state_path, utc_now())
        report["status"] = "peak_reset"
        return EXIT_FLAT
    rules = read_exchange_rules(client)

    reason = args.reason or "manual nuclear option"
    if threshold is not None:
        # Checked before the heavier reads: from cron this usually ends here.
        check = evaluate_drawdown(read_equity(client), threshold, settings.state_path, utc_now())
        report["drawdown"] = check.as_json()
        if not check.triggered:
            report["status"] = "not_triggered"
            return EXIT_FLAT
        if not args.reason:
            reason = f"drawdown {check.drawdown.quantize(Decimal('0.0001'))} above {threshold}"

    hedge_mode = read_hedge_mode(client)
    snapshot = read_snapshot(client, hedge_mode, run.scope)
    if not snapshot.algo_supported:
        run.events.append({"event": "algo_orders_unavailable"})
    plan = build_plan(snapshot, rules)
    report["plan"] = plan_json(plan)
    if not args.execute:
        report["hibernate"] = {
            "requested": bool(args.hibernate),
            "would_write": str(settings.marker_path) if args.hibernate else None,
        }
        report["status"] = "dry_run"
        return EXIT_FLAT

    if args.hibernate:
        report["hibernate"] = hibernate(settings, reason, run.run_id, utc_now())
    final = execute_rounds(
        client,
        run,
        snapshot,
        rules,
        max_rounds=args.max_rounds,
        round_pause_s=settings.round_pause_s,
        say=say,
    )
    final_plan = build_plan(final, rules)
    report["final"] = final_json(final_plan)
    if final_plan.is_flat:
        report["status"] = "flat"
        return EXIT_FLAT
    if run.progressed:
        report["status"] = "partial"
        return EXIT_PARTIAL
    report["status"] = "refused"
    return EXIT_REFUSED


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Entry point; returns the exit code instead of exiting so tests can call it."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    environ = os.environ if env is None else env

    def say(message: str) -> None:
        print(message, file=err, flush=True)

    args = build_parser().parse_args(argv)
    run = Run(
        run_id=secrets.token_hex(4),
        mode="execute" if args.execute else "dry-run",
        settings=None,
        scope=None,
    )
    run.report.update(
        tool="nuclear_option", run_id=run.run_id, mode=run.mode, started_at=utc_now().isoformat()
    )
    try:
        run.scope = _parse_scope(args.symbols)
        run.report["scope"] = sorted(run.scope) if run.scope else "all"
        code = _run(args, environ, run, say)
    except CanaryError as exc:
        code = EXIT_PARTIAL if run.progressed else exc.exit_code
        run.report["status"] = "partial" if run.progressed else exc.kind + "_error"
        run.report["error"] = {"kind": exc.kind, "message": str(exc)}
    except KeyboardInterrupt:
        code = EXIT_PARTIAL
        run.report["status"] = "interrupted"
        run.report["error"] = {"kind": "interrupted", "message": "interrupted by operator"}
    except Exception as exc:
        # A bug must still end with a report: the operator needs to know what was done.
        traceback.print_exc(file=err)
        code = EXIT_PARTIAL if run.progressed else EXIT_REFUSED
        run.report["status"] = "internal_error"
        run.report["error"] = {"kind": "internal", "message": f"{type(exc).__name__}: {exc}"}
    run.report["events"] = run.events
    run.report["exit_code"] = code
    run.report["finished_at"] = utc_now().isoformat()
    hib = run.report.get("hibernate")
    if isinstance(hib, dict) and hib.get("marker_written") and run.settings is not None:
        finish_marker(run.settings.marker_path, str(run.report.get("status")), code)
    print(json.dumps(run.report, indent=2, default=str), file=out, flush=True)
    say(_human_summary(run.report))
    return code


if __name__ == "__main__":
    sys.exit(main())
