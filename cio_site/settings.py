"""Django settings, read from the environment through the typed helpers in ``cio_site.env``.

Zero-setup defaults (SQLite file, local Redis and NATS) serve ``make run``; tests and
production set ``DATABASE_URL`` to PostgreSQL.
"""

from __future__ import annotations

import contextlib as _contextlib
import datetime as _dt
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from cio_site.env import env_bool, env_float, env_int, env_list, env_optional, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CIO_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
_secret = env_optional("DJANGO_SECRET_KEY")
if _secret is None:
    if not DEBUG and env_bool("CIO_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) is required")
    # Development only: production manifests always mount DJANGO_SECRET_KEY_FILE.
    _secret = "dev-insecure-" + "x" * 40
SECRET_KEY = _secret
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "channels",
    "governance",
    "nurse",
    "alerts",
    "strategist",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cio_site.urls"
ASGI_APPLICATION = "cio_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = env_str("NATS_URL", "nats://127.0.0.1:4222")
# Prefix for every Redis key and every NATS stream name this deployment owns, so several
# deployments (or parallel test runs) can share one server.
CIO_NAMESPACE = env_str("CIO_NAMESPACE", "cio")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"{CIO_NAMESPACE}:cache",
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{CIO_NAMESPACE}:asgi"},
    }
}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
LOGIN_URL = "/admin/login/"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("CIO_SECURE_COOKIES", not DEBUG and False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

OTP_TOTP_ISSUER = "Petrosa CIO"

# --- Governance -----------------------------------------------------------------------------
# Agents and API writers cannot change the ceilings in governance/hard_gates.py; these
# settings only choose how the product behaves around them.
CIO_SERVICE_NAME = "petrosa-cio"
CIO_VERSION = "0.1.0"

# --- Nurse (intent gate) --------------------------------------------------------------------
NURSE_INTENT_SUBJECTS = env_list(
    "NURSE_INTENT_SUBJECTS", ["cio.intent.trading.>", "intent.trading.>"]
)
NURSE_SIGNAL_PREFIX = env_str("NURSE_SIGNAL_PREFIX", "signals.trading")
NURSE_QUEUE_GROUP = env_str("NURSE_QUEUE_GROUP", "cio-nurse")
NURSE_HEARTBEAT_INTERVAL_S = env_float("NURSE_HEARTBEAT_INTERVAL_S", 10.0, minimum=0.1)
NURSE_POLICY_REFRESH_S = env_float("NURSE_POLICY_REFRESH_S", 5.0, minimum=0.1)
NURSE_BUDGET_MS = env_float("NURSE_BUDGET_MS", 50.0, minimum=0.1)
NURSE_DEDUP_WINDOW_S = env_int("NURSE_DEDUP_WINDOW_S", 60, minimum=1)
NURSE_MAX_PAYLOAD_BYTES = env_int("NURSE_MAX_PAYLOAD_BYTES", 65536, minimum=1024)
NURSE_POSITIONS_MAX_AGE_S = env_float("NURSE_POSITIONS_MAX_AGE_S", 120.0, minimum=0.0)
NURSE_DECISION_STREAM = env_str("NURSE_DECISION_STREAM", "CIO_DECISIONS")
NURSE_DECISION_SUBJECT_PREFIX = env_str("NURSE_DECISION_SUBJECT_PREFIX", "cio.decision")
# Servers that must store a decision before the gate publishes its signal (3 on a cluster).
NURSE_DECISION_REPLICAS = env_int("NURSE_DECISION_REPLICAS", 1, minimum=1)

# Republish the policy snapshot when Redis lags the database (after an outage).
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "governance.policy_reconcile": {"task": "governance.policy_reconcile", "schedule": 10.0,
                                    "options": {"expires": 20.0}},
}

# --- Alerts ---------------------------------------------------------------------------------
# Channel settings (names fixed by the spec). A channel counts as configured only when its
# settings exist; unconfigured channels are skipped and recorded as such. See docs/alerts.md.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)  # STARTTLS
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)  # implicit TLS (port 465)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
ALERT_EMAIL_TO = env_list("ALERT_EMAIL_TO", [])
ALERT_EMAIL_FROM = env_str("ALERT_EMAIL_FROM", "petrosa-cio@localhost")
ALERT_EMAIL_SUBJECT_PREFIX = env_str("ALERT_EMAIL_SUBJECT_PREFIX", "[petrosa-cio] ")
GRAFANA_URL = env_optional("GRAFANA_URL")
GRAFANA_API_TOKEN = env_optional("GRAFANA_API_TOKEN")
GRAFANA_WEBHOOK_URL = env_optional("GRAFANA_WEBHOOK_URL")  # optional contact-point webhook
ALERT_WEBHOOK_URL = env_optional("ALERT_WEBHOOK_URL")
ALERT_WEBHOOK_FORMAT = env_str("ALERT_WEBHOOK_FORMAT", "auto")  # auto | slack | telegram | json
ALERT_WEBHOOK_CHAT_ID = env_optional("ALERT_WEBHOOK_CHAT_ID")  # Telegram only
if ALERT_WEBHOOK_FORMAT not in {"auto", "slack", "telegram", "json"}:
    raise ImproperlyConfigured(f"ALERT_WEBHOOK_FORMAT={ALERT_WEBHOOK_FORMAT!r} is not one of "
                               "auto, slack, telegram, json")
if ALERT_WEBHOOK_URL and not ALERT_WEBHOOK_CHAT_ID and (
    ALERT_WEBHOOK_FORMAT == "telegram"
    or (ALERT_WEBHOOK_FORMAT == "auto" and "api.telegram.org" in ALERT_WEBHOOK_URL)
):
    raise ImproperlyConfigured("a Telegram ALERT_WEBHOOK_URL needs ALERT_WEBHOOK_CHAT_ID")
ALERT_NATS_URL = env_str("ALERT_NATS_URL", NATS_URL)
ALERT_NATS_SUBJECT_PREFIX = env_str("ALERT_NATS_SUBJECT_PREFIX", "cio.alerts")
ALERT_OTLP_ENDPOINT = env_optional("OTEL_EXPORTER_OTLP_ENDPOINT")  # e.g. http://collector:4318
ALERT_HTTP_TIMEOUT_S = env_float("ALERT_HTTP_TIMEOUT_S", 5.0, minimum=0.1)
# Distillation, rate limits, retries.
ALERT_DEDUP_WINDOW_S = env_int("ALERT_DEDUP_WINDOW_S", 300, minimum=1)
ALERT_DEDUP_MAX_S = env_int("ALERT_DEDUP_MAX_S", 3600, minimum=1)
ALERT_RATE_LIMIT_PER_MIN = env_float("ALERT_RATE_LIMIT_PER_MIN", 20.0, minimum=0.01)
ALERT_RATE_LIMIT_BURST = env_int("ALERT_RATE_LIMIT_BURST", 10, minimum=1)
ALERT_BACKOFF_BASE_S = env_float("ALERT_BACKOFF_BASE_S", 5.0, minimum=0.01)
ALERT_BACKOFF_MAX_S = env_float("ALERT_BACKOFF_MAX_S", 600.0, minimum=0.01)
ALERT_CLAIM_LEASE_S = env_float("ALERT_CLAIM_LEASE_S", 120.0, minimum=0.1)
ALERT_SWEEP_MAX = env_int("ALERT_SWEEP_MAX", 500, minimum=1)
ALERT_DEGRADED_GRACE_S = env_int("ALERT_DEGRADED_GRACE_S", 60, minimum=0)
ALERT_HEALTH_TTL_S = env_int("ALERT_HEALTH_TTL_S", 120, minimum=1)
# Watchdogs and the beat schedule.
ALERT_NURSE_SILENCE_S = env_float("ALERT_NURSE_SILENCE_S", 30.0, minimum=1)
ALERT_DELIVER_INTERVAL_S = env_float("ALERT_DELIVER_INTERVAL_S", 15.0, minimum=0.5)
ALERT_WATCHDOG_INTERVAL_S = env_float("ALERT_WATCHDOG_INTERVAL_S", 10.0, minimum=0.5)
# Lets parallel test runs (and deployments sharing a broker) keep their own Celery queue.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "alerts.deliver_due": {"task": "alerts.deliver_due", "schedule": ALERT_DELIVER_INTERVAL_S,
                           "options": {"expires": ALERT_DELIVER_INTERVAL_S * 2}},
    "alerts.run_watchdogs": {"task": "alerts.run_watchdogs",
                             "schedule": ALERT_WATCHDOG_INTERVAL_S,
                             "options": {"expires": ALERT_WATCHDOG_INTERVAL_S * 2}},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- API & MCP -------------------------------------------------------------------------------
# Keeps the {success, data, trace_id, error} envelope on Django's own /api/ error pages.
MIDDLEWARE.append("governance.api.middleware.api_error_envelope")
# Writes per principal per minute (Redis fixed window); halts and reduce-only are exempt.
CIO_API_WRITE_RATE_PER_MIN = env_int("CIO_API_WRITE_RATE_PER_MIN", 60, minimum=1)
# last_used_at of a token is written at most this often (not on every request).
CIO_API_TOKEN_TOUCH_S = env_int("CIO_API_TOKEN_TOUCH_S", 60, minimum=1)
# Host headers the MCP endpoint accepts (DNS-rebinding guard); defaults to ALLOWED_HOSTS.
CIO_MCP_ALLOWED_HOSTS = env_list("CIO_MCP_ALLOWED_HOSTS", ALLOWED_HOSTS)
CIO_MCP_ALLOWED_ORIGINS = env_list("CIO_MCP_ALLOWED_ORIGINS", [])
# JSON responses and stateless sessions: fastest, and any replica can serve any request.
CIO_MCP_JSON_RESPONSE = env_bool("CIO_MCP_JSON_RESPONSE", True)
CIO_MCP_STATELESS = env_bool("CIO_MCP_STATELESS", True)
# Fleet sync: push each config version to the registered bot config endpoints.
CIO_FLEET_SYNC_DISPATCH = env_str("CIO_FLEET_SYNC_DISPATCH", "thread")
if CIO_FLEET_SYNC_DISPATCH not in {"thread", "celery", "none"}:
    raise ImproperlyConfigured("CIO_FLEET_SYNC_DISPATCH must be thread, celery or none")
CIO_FLEET_SYNC_BACKOFF_BASE_S = env_float("CIO_FLEET_SYNC_BACKOFF_BASE_S", 1.0, minimum=0.0)
CIO_FLEET_SYNC_BACKOFF_MAX_S = env_float("CIO_FLEET_SYNC_BACKOFF_MAX_S", 300.0, minimum=0.0)
CIO_FLEET_SYNC_MAX_RETRY_AFTER_S = env_float("CIO_FLEET_SYNC_MAX_RETRY_AFTER_S", 3600.0,
                                             minimum=0.0)
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    # Sweeps deliveries left behind by a restart or waiting on a retry (dispatch=celery/none).
    "governance.fleet_sync_due": {"task": "governance.fleet_sync_due", "schedule": 15.0},
}

# --- Strategist -------------------------------------------------------------------------------
# The LLM policy cycle. "rules" (default) is an offline deterministic brain: the product runs
# with no LLM at all. openai = any OpenAI-compatible chat-completions server (OpenAI, vLLM,
# Ollama, OpenRouter); anthropic = the Messages API. The key may come from *_FILE.
STRATEGIST_LLM_PROVIDER = env_str("STRATEGIST_LLM_PROVIDER", "rules")
STRATEGIST_LLM_BASE_URL = env_str("STRATEGIST_LLM_BASE_URL", "")
STRATEGIST_LLM_MODEL = env_str("STRATEGIST_LLM_MODEL", "")
STRATEGIST_LLM_API_KEY = env_optional("STRATEGIST_LLM_API_KEY")
STRATEGIST_LLM_TIMEOUT_S = env_float("STRATEGIST_LLM_TIMEOUT_S", 60.0, minimum=0.1)
STRATEGIST_LLM_MAX_RETRIES = env_int("STRATEGIST_LLM_MAX_RETRIES", 2, minimum=0)
STRATEGIST_LLM_BACKOFF_BASE_S = env_float("STRATEGIST_LLM_BACKOFF_BASE_S", 2.0, minimum=0.0)
STRATEGIST_LLM_BACKOFF_MAX_S = env_float("STRATEGIST_LLM_BACKOFF_MAX_S", 30.0, minimum=0.0)
STRATEGIST_LLM_MAX_OUTPUT_TOKENS = env_int("STRATEGIST_LLM_MAX_OUTPUT_TOKENS", 2000, minimum=64)
STRATEGIST_LLM_TEMPERATURE = env_float("STRATEGIST_LLM_TEMPERATURE", 0.0, minimum=0.0)
# Daily ceilings (UTC day): a cycle that would cross one is not sent (token depletion alert).
STRATEGIST_LLM_DAILY_TOKEN_LIMIT = env_int("STRATEGIST_LLM_DAILY_TOKEN_LIMIT", 1_000_000,
                                           minimum=0)
STRATEGIST_LLM_DAILY_SPEND_LIMIT_USD = env_float("STRATEGIST_LLM_DAILY_SPEND_LIMIT_USD", 20.0,
                                                 minimum=0.0)
STRATEGIST_LLM_USD_PER_1K_INPUT = env_float("STRATEGIST_LLM_USD_PER_1K_INPUT", 0.0, minimum=0.0)
STRATEGIST_LLM_USD_PER_1K_OUTPUT = env_float("STRATEGIST_LLM_USD_PER_1K_OUTPUT", 0.0,
                                             minimum=0.0)
# Circuit breaker: after N failed cycles in a row the provider is skipped for the cool-down.
STRATEGIST_BREAKER_FAILURES = env_int("STRATEGIST_BREAKER_FAILURES", 3, minimum=1)
STRATEGIST_BREAKER_COOLDOWN_S = env_float("STRATEGIST_BREAKER_COOLDOWN_S", 300.0, minimum=0.0)
STRATEGIST_CYCLE_INTERVAL_S = env_float("STRATEGIST_CYCLE_INTERVAL_S", 300.0, minimum=5.0)
# Event-driven cycles (regime shift, breach) closer together than this are skipped.
STRATEGIST_EVENT_CYCLE_MIN_S = env_float("STRATEGIST_EVENT_CYCLE_MIN_S", 60.0, minimum=0.0)
# The agent principal the strategist acts as: its writes pass the agent envelope.
STRATEGIST_PRINCIPAL = env_str("STRATEGIST_PRINCIPAL", "strategist")
# The auditor's replay of recorded intents under a proposed policy.
STRATEGIST_REPLAY_HOURS = env_float("STRATEGIST_REPLAY_HOURS", 24.0, minimum=0.0)
STRATEGIST_REPLAY_MAX_INTENTS = env_int("STRATEGIST_REPLAY_MAX_INTENTS", 5000, minimum=0)
# Refuse a proposal whose replay blocks more than this extra share of recent intents.
STRATEGIST_REPLAY_MAX_BLOCK_RATE_INCREASE = env_float(
    "STRATEGIST_REPLAY_MAX_BLOCK_RATE_INCREASE", 1.0, minimum=0.0)
# Market regime feeds (run_strategist_feeds) and the protection ladder.
STRATEGIST_KLINE_SUBJECT = env_str("STRATEGIST_KLINE_SUBJECT", "binance.websocket.data")
STRATEGIST_EXECUTION_SUBJECT = env_str("STRATEGIST_EXECUTION_SUBJECT", "execution.events.>")
STRATEGIST_REGIME_INTERVAL = env_str("STRATEGIST_REGIME_INTERVAL", "5m")
STRATEGIST_REGIME_SYMBOLS = env_list("STRATEGIST_REGIME_SYMBOLS", [])
# Optional HTTP candle source: a Binance-compatible /fapi/v1/klines URL, polled.
STRATEGIST_KLINE_HTTP_URL = env_optional("STRATEGIST_KLINE_HTTP_URL")
STRATEGIST_KLINE_HTTP_POLL_S = env_float("STRATEGIST_KLINE_HTTP_POLL_S", 60.0, minimum=1.0)
# Optional engine /state endpoint (equity, exposure, daily PnL), polled.
STRATEGIST_ENGINE_STATE_URL = env_optional("STRATEGIST_ENGINE_STATE_URL")
STRATEGIST_ENGINE_STATE_POLL_S = env_float("STRATEGIST_ENGINE_STATE_POLL_S", 10.0, minimum=0.5)
# Command run (no shell, not awaited) when the ladder halts, e.g.
# "python canary/nuclear_option.py --execute --confirm CLOSE-ALL --hibernate
#  --if-drawdown-above 0.20"; unset = never.
STRATEGIST_CANARY_COMMAND = env_optional("STRATEGIST_CANARY_COMMAND")
# "Halt & Protect": multiply the global stop_loss_pct by this on REDUCING (1 = leave it).
STRATEGIST_LADDER_STOP_FACTOR = env_float("STRATEGIST_LADDER_STOP_FACTOR", 0.5, minimum=0.01)
# Institutional memory: embedder ("auto" = minilm when the extra is installed, else hashed).
STRATEGIST_MEMORY_EMBEDDER = env_str("STRATEGIST_MEMORY_EMBEDDER", "auto")
STRATEGIST_MEMORY_IVF_MIN_ITEMS = env_int("STRATEGIST_MEMORY_IVF_MIN_ITEMS", 20_000, minimum=2)
STRATEGIST_MEMORY_IVF_NPROBE = env_int("STRATEGIST_MEMORY_IVF_NPROBE", 8, minimum=1)
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "strategist.cycle": {"task": "strategist.cycle", "schedule": STRATEGIST_CYCLE_INTERVAL_S,
                         "kwargs": {"trigger": "schedule"},
                         "options": {"expires": STRATEGIST_CYCLE_INTERVAL_S}},
    "strategist.memory_reindex": {"task": "strategist.memory_reindex", "schedule": 3600.0,
                                  "options": {"expires": 1800.0}},
}

# --- Shadow ROI ----------------------------------------------------------------------------------
# Blocked entries tracked as shadow positions and marked at fixed horizons; actual PnL from
# execution events; the Friday earnings report. See docs/shadow_roi.md and docs/replay.md.
def _shadow_horizons() -> list[int]:
    raw = env_list("SHADOW_HORIZONS_H", ["1", "4", "24", "48"])
    try:
        hours = sorted({int(h) for h in raw})
    except ValueError as exc:
        raise ImproperlyConfigured(f"SHADOW_HORIZONS_H={raw!r} must be whole hours") from exc
    if not hours or hours[0] < 1:
        raise ImproperlyConfigured("SHADOW_HORIZONS_H needs at least one horizon >= 1 h")
    return hours


def _earnings_schedule(raw: str) -> object:
    """``EARNINGS_REPORT_CRON`` (minute hour day month weekday, UTC) as a beat crontab."""
    from celery.schedules import crontab

    fields = raw.split()
    if len(fields) != 5:
        raise ImproperlyConfigured(f"EARNINGS_REPORT_CRON={raw!r} needs five crontab fields")
    names = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    try:
        return crontab(**dict(zip(names, fields, strict=True)))
    except ValueError as exc:
        raise ImproperlyConfigured(f"EARNINGS_REPORT_CRON={raw!r}: {exc}") from exc


SHADOW_HORIZONS_H = _shadow_horizons()
SHADOW_FEE_RATE = env_float("SHADOW_FEE_RATE", 0.0004, minimum=0.0)  # per fill (taker)
SHADOW_SLIPPAGE_BPS = env_float("SHADOW_SLIPPAGE_BPS", 2.0, minimum=0.0)  # per fill, adverse
# Tried in order; candle sources first so a touch between samples is not missed.
SHADOW_PRICE_SOURCES = env_list("SHADOW_PRICE_SOURCES",
                                ["redis_klines", "http_klines", "redis_last_price"])
SHADOW_KLINE_INTERVAL = env_str("SHADOW_KLINE_INTERVAL", "1m")
if SHADOW_KLINE_INTERVAL not in {"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h"}:
    raise ImproperlyConfigured(f"SHADOW_KLINE_INTERVAL={SHADOW_KLINE_INTERVAL!r} is not a "
                               "Binance kline interval up to 4h")
SHADOW_HTTP_KLINES_URL = env_str("SHADOW_HTTP_KLINES_URL", "")  # e.g. https://fapi.binance.com
SHADOW_HTTP_TIMEOUT_S = env_float("SHADOW_HTTP_TIMEOUT_S", 5.0, minimum=0.1)
SHADOW_CANDLE_FILES = env_list("SHADOW_CANDLE_FILES", [])  # "SYMBOL=path" or shared/ names
SHADOW_PRICE_SUBJECT = env_str("SHADOW_PRICE_SUBJECT", "binance.websocket.data")
SHADOW_EXECUTION_SUBJECT = env_str("SHADOW_EXECUTION_SUBJECT", "execution.events.>")
SHADOW_FEED_QUEUE = env_str("SHADOW_FEED_QUEUE", "cio-shadow")
SHADOW_PRICE_RETENTION_H = env_float("SHADOW_PRICE_RETENTION_H", 50.0, minimum=1.0)
SHADOW_TICK_INTERVAL_S = env_float("SHADOW_TICK_INTERVAL_S", 60.0, minimum=1.0)
SHADOW_SCAN_LAG_S = env_float("SHADOW_SCAN_LAG_S", 10.0, minimum=0.0)
SHADOW_SCAN_BATCH = env_int("SHADOW_SCAN_BATCH", 5000, minimum=1)
SHADOW_MARK_BATCH = env_int("SHADOW_MARK_BATCH", 500, minimum=1)
SHADOW_RETRY_S = env_float("SHADOW_RETRY_S", 120.0, minimum=1.0)
SHADOW_GIVE_UP_H = env_float("SHADOW_GIVE_UP_H", 72.0, minimum=0.0)
SHADOW_REPORT_HORIZON_H = env_int("SHADOW_REPORT_HORIZON_H", 24, minimum=1)
if SHADOW_REPORT_HORIZON_H not in SHADOW_HORIZONS_H:
    raise ImproperlyConfigured("SHADOW_REPORT_HORIZON_H must be one of SHADOW_HORIZONS_H")
EARNINGS_REPORT_WINDOW_H = env_int("EARNINGS_REPORT_WINDOW_H", 168, minimum=1)
EARNINGS_REPORT_CHANNELS = env_list("EARNINGS_REPORT_CHANNELS", ["email"])
EARNINGS_REPORT_BASE_URL = env_str("EARNINGS_REPORT_BASE_URL", "")  # link in the e-mail
EARNINGS_REPORT_CRON = env_str("EARNINGS_REPORT_CRON", "0 16 * * 5")  # Fridays 16:00 UTC
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    # Scan new blocked decisions into shadow positions, then mark due horizons (resumable).
    "nurse.shadow_tick": {"task": "nurse.shadow_tick", "schedule": SHADOW_TICK_INTERVAL_S,
                          "options": {"expires": SHADOW_TICK_INTERVAL_S * 2}},
    "nurse.earnings_weekly": {"task": "nurse.earnings_weekly",
                              "schedule": _earnings_schedule(EARNINGS_REPORT_CRON)},
}

# --- Dashboard ---------------------------------------------------------------------------------
# The commander dashboard (/dashboard/, docs/dashboard.md). The bridge (run_dashboard_bridge)
# fans decisions and heartbeats out to this channel group, batched every DASHBOARD_TICK_S with
# at most DASHBOARD_MAX_ROWS_PER_S decision rows per second whatever the gate's rate.
DASHBOARD_GROUP = env_str("DASHBOARD_GROUP", "dashboard")
DASHBOARD_TICK_S = env_float("DASHBOARD_TICK_S", 0.25, minimum=0.05)
DASHBOARD_MAX_ROWS_PER_S = env_int("DASHBOARD_MAX_ROWS_PER_S", 40, minimum=1)
DASHBOARD_POLL_S = env_float("DASHBOARD_POLL_S", 2.0, minimum=0.5)
DASHBOARD_PANEL_REFRESH_S = env_float("DASHBOARD_PANEL_REFRESH_S", 15.0, minimum=1.0)
DASHBOARD_HEARTBEAT_STALE_S = env_float("DASHBOARD_HEARTBEAT_STALE_S", 30.0, minimum=1.0)
# demo_fleet refuses to run unless allowed: by default only with the development secret key,
# which production never has (its manifests mount DJANGO_SECRET_KEY_FILE).
DASHBOARD_DEMO_FLEET_ALLOWED = env_bool("DASHBOARD_DEMO_FLEET_ALLOWED",
                                        SECRET_KEY.startswith("dev-insecure-"))

# --- Operations ----------------------------------------------------------------------------------
# Security headers, cookies, login throttling, static files, structured logs, telemetry and
# metrics. Threat model: docs/security.md; deployment and scaling: docs/operations.md.
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]", "testserver"}
# Served under a real host name (TLS ends at the ingress) unless every allowed host is
# loopback: `make run` on http://127.0.0.1 keeps a working login without TLS.
_LOCAL_ONLY = all(host in _LOOPBACK_HOSTS for host in ALLOWED_HOSTS)
SESSION_COOKIE_SECURE = env_bool("CIO_SECURE_COOKIES", not DEBUG and not _LOCAL_ONLY)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("CIO_SESSION_AGE_S", 8 * 3600, minimum=300)  # one shift
# HSTS goes out on HTTPS responses only (SecurityMiddleware), so it is harmless on http.
SECURE_HSTS_SECONDS = env_int("CIO_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("CIO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = False
# Behind the ingress: trust its X-Forwarded-Proto only when told it is there (else a client
# could claim https), and count its hops for the client address of login throttling.
if env_bool("CIO_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("CIO_SSL_REDIRECT", False)
# Probes and scrapes come over plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/", r"^metrics$"]
CIO_PROXY_COUNT = env_int("CIO_PROXY_COUNT", 0, minimum=0)
# Content-Security-Policy (cio_site/security.py): nonce-based scripts, no framing.
CIO_CSP = env_str("CIO_CSP", "")
CIO_CSP_REPORT_ONLY = env_bool("CIO_CSP_REPORT_ONLY", False)
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "whitenoise.middleware.WhiteNoiseMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("whitenoise.middleware.WhiteNoiseMiddleware") + 1,
                  "cio_site.security.ContentSecurityPolicyMiddleware")
# Login throttling (django-axes) on every password login (admin and dashboard): 5 failures
# per username and client address lock that pair out for 15 minutes (HTTP 429). TOTP
# guessing is throttled by django-otp itself (growing delays per device).
INSTALLED_APPS += ["axes", "ninja"]  # ninja: the API docs use local assets, not a CDN
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend",
                           "django.contrib.auth.backends.ModelBackend"]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AXES_ENABLED = env_bool("CIO_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = env_int("CIO_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = _dt.timedelta(seconds=env_int("CIO_LOGIN_COOLOFF_S", 900, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "cio_site.security.client_ip"
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token", "otp_device"]
# Static files (admin, API docs, dashboard) served by the app (WhiteNoise): the image
# collects them at build time into CIO_STATIC_ROOT; finders cover a checkout without it.
STATIC_ROOT = Path(env_str("CIO_STATIC_ROOT", str(STATIC_ROOT)))
WHITENOISE_USE_FINDERS = env_bool("CIO_STATIC_USE_FINDERS", True)
if WHITENOISE_USE_FINDERS and not STATIC_ROOT.exists():
    # A checkout without collectstatic: the finders serve the files; an empty root keeps
    # WhiteNoise from warning on every start.
    with _contextlib.suppress(OSError):
        STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Structured JSON logs (one object per line, with trace ids) through a redaction filter;
# CIO_LOG_FORMAT=text for humans. LOGGING_CONFIG also starts OpenTelemetry (OTEL_*,
# cio_site/telemetry.py): off unless an exporter or OTLP endpoint is configured.
CIO_LOG_FORMAT = env_str("CIO_LOG_FORMAT", "json")
if CIO_LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured("CIO_LOG_FORMAT must be json or text")
LOGGING_CONFIG = "cio_site.logging.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "cio_site.logging.RedactingFilter"},
                "trace": {"()": "cio_site.logging.TraceContextFilter"}},
    "formatters": {
        "json": {"()": "cio_site.logging.JsonFormatter", "service": CIO_SERVICE_NAME},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(trace_id)s] %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": CIO_LOG_FORMAT,
                             "filters": ["trace", "redact"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Django's own handlers (console when DEBUG, mail_admins) would bypass the redaction.
    "loggers": {"django": {"handlers": [], "level": "INFO", "propagate": True},
                "django.server": {"handlers": [], "level": "INFO", "propagate": True}},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # keep the JSON handler in workers
# Metrics (cio_site/metrics.py): /metrics needs the scrape secret or a read-scoped token; the
# Nurse serves /livez, /readyz and /metrics on CIO_NURSE_OPS_PORT (unset: no port, no cost).
CIO_METRICS_TOKEN = env_optional("CIO_METRICS_TOKEN")
_nurse_ops_port = env_int("CIO_NURSE_OPS_PORT", -1, minimum=-1)
CIO_NURSE_OPS_PORT: int | None = _nurse_ops_port if _nurse_ops_port >= 0 else None
CIO_NURSE_OPS_HOST = env_str("CIO_NURSE_OPS_HOST", "0.0.0.0")  # noqa: S104  (pod IP; NetworkPolicy)
