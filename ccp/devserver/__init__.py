"""Development server only: `manage.py runserver` serves ccp.asgi (HTTP, websockets, SSE) with daphne.

It replaces daphne's own app in INSTALLED_APPS, whose AppConfig imports daphne.server — Twisted,
pyOpenSSL and autobahn, ~200 modules and 13 MB of RSS — into every process at django.setup(): gunicorn
workers and Celery workers too, which never serve a websocket. Here they load only when runserver
runs; the daphne process (`python -m daphne ccp.asgi:application`) imports them itself.
Listed before django.contrib.staticfiles so that its runserver wins.
"""
