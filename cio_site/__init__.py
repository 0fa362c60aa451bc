"""Petrosa CIO Django project."""

from __future__ import annotations

from cio_site.celery import app as celery_app

__all__ = ["celery_app"]
