"""Hivelight: the Django project package (settings, URLs, ASGI, Celery app)."""

from hivelight.celery import app as celery_app

__all__ = ["celery_app"]
