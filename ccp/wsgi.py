"""WSGI entry point: REST under gunicorn-style sync workers (see docs/performance.md)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccp.settings")
application = get_wsgi_application()

# Under `gunicorn --preload` this module runs in the master, which then forks the workers. Import the
# views here (Django would on each worker's first request) so the workers share them, and freeze what
# exists: the workers' garbage collector never visits frozen objects, and each visit writes to the
# object, copying the master's page into the worker. These objects live as long as the app anyway.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018
gc.freeze()
