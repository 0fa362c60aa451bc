"""Celery application: broker and result backend are Redis."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cio_site.settings")

app = Celery("cio_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
