"""`manage.py runserver`: daphne's ASGI development server (static files included, autoreload)."""

from daphne.management.commands.runserver import Command

__all__ = ["Command"]
