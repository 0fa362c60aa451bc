"""Django settings, read from the environment through the typed helpers in ``cio_site.env``.

Zero-setup defaults (SQLite file, local Redis and NATS) serve ``make run``; tests and
production set ``DATABASE_URL`` to PostgreSQL.
"""

from __future__ import annotations

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
NURSE_INTENT_SUBJECTS = env_list("NURSE_INTENT_SUBJECTS", ["cio.intent.trading.>", "intent.trading.>"])
NURSE_SIGNAL_PREFIX = env_str("NURSE_SIGNAL_PREFIX", "signals.trading")
NURSE_QUEUE_GROUP = env_str("NURSE_QUEUE_GROUP", "cio-nurse")
NURSE_HEARTBEAT_INTERVAL_S = env_float("NURSE_HEARTBEAT_INTERVAL_S", 10.0, minimum=0.1)
NURSE_POLICY_REFRESH_S = env_float("NURSE_POLICY_REFRESH_S", 5.0, minimum=0.1)
NURSE_BUDGET_MS = env_float("NURSE_BUDGET_MS", 50.0, minimum=0.1)
NURSE_DEDUP_WINDOW_S = env_int("NURSE_DEDUP_WINDOW_S", 60, minimum=1)
NURSE_MAX_PAYLOAD_BYTES = env_int("NURSE_MAX_PAYLOAD_BYTES", 65536, minimum=1024)
NURSE_DECISION_STREAM = env_str("NURSE_DECISION_STREAM", "CIO_DECISIONS")
NURSE_DECISION_SUBJECT_PREFIX = env_str("NURSE_DECISION_SUBJECT_PREFIX", "cio.decision")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
