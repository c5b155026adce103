"""WSGI entry point: REST under gunicorn-style sync workers (see docs/performance.md)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccp.settings")
application = get_wsgi_application()
