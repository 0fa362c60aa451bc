"""Celery application: broker and result backend are Redis."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from celery import Celery, bootsteps
from celery.signals import beat_init, before_task_publish, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cio_site.settings")

app = Celery("cio_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _telemetry_in_pool_process(**_: Any) -> None:
    """Tracing in each prefork pool process (Celery instrumentation, OTLP exporters).

    The parent set it up through Django's logging hook before forking; the SDK restarts
    its export threads after a fork, and ``setup`` is idempotent, so this only covers a
    pool started without that (e.g. ``celery worker`` before ``django.setup``)."""
    from cio_site import telemetry

    telemetry.setup()


# --- probe files (k8s exec probes: ``python -m cio_site.probes file-fresh PATH AGE``) ----------
WORKER_ALIVE = Path(os.environ.get("CIO_CELERY_ALIVE_FILE", "/tmp/celery-worker-alive"))  # noqa: S108  (emptyDir)
WORKER_READY = Path(os.environ.get("CIO_CELERY_READY_FILE", "/tmp/celery-worker-ready"))  # noqa: S108
BEAT_ALIVE = Path(os.environ.get("CIO_BEAT_ALIVE_FILE", "/tmp/celery-beat-alive"))  # noqa: S108
_is_beat = False


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):  # a read-only directory must not break the worker
        path.touch()


class _AliveStep(bootsteps.StartStopStep):  # type: ignore[misc]  # celery is untyped
    """Touches WORKER_ALIVE from the worker's own timer: a wedged consumer stops touching."""

    requires = {"celery.worker.components:Timer"}

    def start(self, worker: Any) -> None:
        _touch(WORKER_ALIVE)
        self._tref = worker.timer.call_repeatedly(10.0, _touch, (WORKER_ALIVE,), priority=10)

    def stop(self, worker: Any) -> None:
        tref = getattr(self, "_tref", None)
        if tref is not None:
            tref.cancel()


app.steps["worker"].add(_AliveStep)


def _worker_ready(**_: Any) -> None:
    _touch(WORKER_READY)


def _beat_started(**_: Any) -> None:
    global _is_beat
    _is_beat = True
    _touch(BEAT_ALIVE)


def _beat_published(**_: Any) -> None:
    # The schedule sends a task every 10-15 s: a beat that stops sending goes stale.
    if _is_beat:
        _touch(BEAT_ALIVE)


# Plain calls rather than decorators: celery is untyped, decorators would erase the types.
worker_process_init.connect(_telemetry_in_pool_process, weak=False)
worker_ready.connect(_worker_ready, weak=False)
beat_init.connect(_beat_started, weak=False)
before_task_publish.connect(_beat_published, weak=False)
