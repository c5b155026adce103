"""ccp — an open-source contact-center platform (project package: settings, urls, asgi, celery)."""

from .celery import app as celery_app

__all__ = ["celery_app"]
