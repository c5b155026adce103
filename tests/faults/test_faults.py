"""Faults against the real processes: a SIGKILLed Celery worker, a Redis restart, PostgreSQL backends
terminated mid-request. Each asserts zero 5xx other than 503, every accepted message stored exactly
once, nothing half-written, and every accepted reply received by the partner's webhook. Figures are
printed (run with -s) for docs/events.md."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from ccp.events.models import Event
from tests.servers import SERVER_APPLICATION_NAME, wait_for

from .conftest import Traffic, assert_nothing_lost_nor_doubled, platform, report

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_celery_worker_killed_while_replies_flow_loses_no_reply(world, workers_factory, tmp_path):
    workers = workers_factory(settings.REDIS_URL)
    with platform(settings.REDIS_URL, tmp_path / "daphne.log") as url:
        first = workers.start()
        traffic = Traffic(url, world).start()
        wait_for(lambda: world.receiver.succeeded(), timeout=30, what="the first webhook")
        time.sleep(1)
        first.kill()  # SIGKILL: no acknowledgement, no cleanup, deliveries left claimed mid-flight
        first.wait(timeout=10)
        killed_at = time.monotonic()
        time.sleep(1.5)
        workers.start()
        time.sleep(2)
        traffic.finish()
        figures = assert_nothing_lost_nor_doubled(traffic, world, tmp_path / "daphne.log")
    figures["restart_after_kill_s"] = 1.5
    figures["all_delivered_after_kill_s"] = round(time.monotonic() - killed_at, 1)
    report("celery worker kill -9", figures)


def test_a_redis_restart_while_both_sides_write_is_a_degraded_mode(world, workers_factory, private_redis, tmp_path):
    workers = workers_factory(private_redis.url)
    with platform(private_redis.url, tmp_path / "daphne.log") as url:
        workers.start()
        traffic = Traffic(url, world).start()
        wait_for(lambda: world.receiver.succeeded(), timeout=30, what="the first webhook")
        private_redis.stop()
        down_at = time.monotonic()
        pending_seen = wait_for(
            lambda: Event.objects.filter(push_pending=True).count(), timeout=10, what="a push left to the sweep"
        )
        time.sleep(max(0.0, 3 - (time.monotonic() - down_at)))
        during = [o for o in traffic.outcomes if o.at >= down_at]
        private_redis.start()
        up_at = time.monotonic()
        time.sleep(2)
        revived = workers.revive()  # what the supervisor (systemd, ccp_up) does if a worker exited
        traffic.finish()
        figures = assert_nothing_lost_nor_doubled(traffic, world, tmp_path / "daphne.log")
        # the sweep pushed again what the websockets missed while Redis was down
        wait_for(lambda: not Event.objects.filter(push_pending=True).exists(), timeout=20, what="the re-push")
    taken = [o for o in during if o.at < up_at and o.status == 201]
    figures.update(
        redis_down_s=round(up_at - down_at, 1),
        answered_while_down=len([o for o in during if o.at < up_at]),
        taken_201_while_down=len(taken),
        pushes_left_to_sweep=pending_seen,
        workers_restarted_by_supervisor=revived,
    )
    assert taken, "nothing was taken while Redis was down"
    report("redis restart", figures)


def test_postgresql_backends_terminated_mid_request_answer_503_and_recover(world, workers_factory, tmp_path):
    workers = workers_factory(settings.REDIS_URL)
    with platform(settings.REDIS_URL, tmp_path / "daphne.log") as url:
        workers.start()
        traffic = Traffic(url, world).start()
        wait_for(lambda: len(traffic.accepted_replies()) > 5, timeout=30, what="replies flowing")
        killed = []
        stop = threading.Event()
        db = connection.settings_dict

        def terminator():
            # the server's own backends in this run's database only; never anyone else's
            with psycopg.connect(
                host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
            ) as admin:
                while not stop.is_set():
                    rows = admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = %s AND datname = current_database() AND pid <> pg_backend_pid()",
                        [SERVER_APPLICATION_NAME],
                    ).fetchall()
                    killed.extend(r for r in rows if r[0])
                    time.sleep(0.15)

        thread = threading.Thread(target=terminator, daemon=True)
        started = time.monotonic()
        thread.start()
        time.sleep(4)
        stop.set()
        thread.join(timeout=10)
        stopped = time.monotonic()
        wait_for(
            lambda: any(o.at > stopped and o.status == 201 and o.kind == "reply" for o in list(traffic.outcomes)),
            timeout=20,
            what="a reply taken after the terminations",
        )
        recovered = min(o.at for o in list(traffic.outcomes) if o.at > stopped and o.status == 201) - stopped
        time.sleep(1)
        traffic.finish()
        figures = assert_nothing_lost_nor_doubled(traffic, world, tmp_path / "daphne.log")
    during = [o for o in traffic.outcomes if started <= o.at <= stopped]
    figures.update(
        backends_terminated=len(killed),
        requests_during=len(during),
        answered_503_during=len([o for o in during if o.status == 503]),
        recovery_s=round(recovered, 2),
    )
    assert killed, "no server backend was terminated"
    report("postgresql backends terminated", figures)
