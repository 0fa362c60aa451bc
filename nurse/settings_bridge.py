"""Build the runner's config from Django settings (kept out of the runner itself)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from nurse.runner import NurseConfig


def db_alive() -> bool:
    """A cheap database probe for the heartbeat, run off the event loop."""
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False
    finally:
        # The probe runs on a worker thread: never leave its connection open.
        connection.close()


def nurse_config_from_settings() -> NurseConfig:
    return NurseConfig(
        nats_url=settings.NATS_URL,
        redis_url=settings.REDIS_URL,
        namespace=settings.CIO_NAMESPACE,
        intent_subjects=list(settings.NURSE_INTENT_SUBJECTS),
        queue_group=settings.NURSE_QUEUE_GROUP,
        signal_prefix=settings.NURSE_SIGNAL_PREFIX,
        decision_stream=settings.NURSE_DECISION_STREAM,
        decision_prefix=settings.NURSE_DECISION_SUBJECT_PREFIX,
        decision_replicas=settings.NURSE_DECISION_REPLICAS,
        heartbeat_interval_s=settings.NURSE_HEARTBEAT_INTERVAL_S,
        policy_refresh_s=settings.NURSE_POLICY_REFRESH_S,
        budget_ms=settings.NURSE_BUDGET_MS,
        dedup_window_s=settings.NURSE_DEDUP_WINDOW_S,
        max_payload_bytes=settings.NURSE_MAX_PAYLOAD_BYTES,
        version=settings.CIO_VERSION,
        service=settings.CIO_SERVICE_NAME,
        positions_max_age_s=settings.NURSE_POSITIONS_MAX_AGE_S,
        db_check=db_alive,
    )
