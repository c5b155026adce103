"""One client process of tests/deploy/test_pgbouncer.py: Django set up from the environment (DATABASE_URL
through PgBouncer, DB_PGBOUNCER=1), then one job; prints one JSON line.

    python tests/deploy/pgbouncer_client.py '{"job": "publish", "tenant_id": "…", "count": 40}'

Jobs: `publish` (each event in a transaction of its own, so replay ids are assigned by many
autocommit statements on whichever server connection PgBouncer hands out), `dispatch` (routing
rounds), `settings` (what the setting made of the connection options).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402


def publish(config: dict) -> dict:
    from ccp.events.services import event_publish
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=config["tenant_id"])
    pks = []
    for i in range(config["count"]):
        with transaction.atomic():
            event = event_publish(tenant=tenant, type="message.created", data={"m": f"{config['name']}-{i}"})
        pks.append(event.pk)
    return {"pks": pks}


def dispatch(config: dict) -> dict:
    from routing import services

    return {"made": services.routing_dispatch(tenant_id=config["tenant_id"], limit=config["limit"])}


def connection_settings(config: dict) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SHOW TimeZone")
        time_zone = cursor.fetchone()[0]
    db = settings.DATABASES["default"]
    return {
        "prepare_threshold": db["OPTIONS"].get("prepare_threshold", "unset"),
        "disable_server_side_cursors": db.get("DISABLE_SERVER_SIDE_CURSORS", False),
        "port": db["PORT"],
        "time_zone": time_zone,
    }


JOBS = {"publish": publish, "dispatch": dispatch, "settings": connection_settings}

if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    print(json.dumps(JOBS[job["job"]](job)))
