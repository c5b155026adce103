"""ASGI entry point: HTTP (Django) and websockets (Channels) on one server, e.g. daphne."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccp.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402 — needs Django set up first
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from ccp.core.websocket import SameOriginValidator  # noqa: E402
from ccp.operations.consumers import SupervisorConsumer  # noqa: E402
from conversations.consumers import AgentConsumer  # noqa: E402

websocket_urlpatterns = [
    path("ws/agent/", AgentConsumer.as_asgi()),
    path("ws/supervisor/", SupervisorConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)


INPROCESS_PRUNE_SECONDS = 3600


def _start_inprocess_sweeper(every: float) -> None:
    """The embedded default has no Celery beat: run the routing and event-bus sweeps in this process
    (whose in-memory channel layer the agents' websockets use). `ccp_up` turns it on."""
    import logging
    import threading
    import time

    from django.conf import settings
    from django.db import connection

    from ccp.core.services import idempotency_prune
    from ccp.events.services import events_sweep
    from ccp.operations.services import operations_rollup_all
    from conversations.services import sla_sweep
    from routing.services import routing_sweep

    def loop():
        last_prune: float | None = None
        last_rollup: float | None = None
        while True:
            time.sleep(every)
            try:
                routing_sweep()
                events_sweep()
                sla_sweep()
                if last_rollup is None or time.monotonic() - last_rollup >= settings.ROLLUP_EVERY_SECONDS:
                    last_rollup = time.monotonic()
                    operations_rollup_all()
                if last_prune is None or time.monotonic() - last_prune >= INPROCESS_PRUNE_SECONDS:  # hourly, like beat
                    last_prune = time.monotonic()
                    idempotency_prune()
            except Exception:  # the next round tries again; never kill the server
                logging.getLogger("ccp.sweeper").exception("sweep failed")
            finally:
                connection.close()

    threading.Thread(target=loop, name="ccp-sweeper", daemon=True).start()


if os.environ.get("CCP_INPROCESS_SWEEP") == "1":
    _start_inprocess_sweeper(float(os.environ.get("CCP_SWEEP_SECONDS", "5")))
