"""Webhook attempts are bounded end to end: one total deadline per attempt (connect, headers, body),
every failure recorded as an attempt and retried with backoff, and one partner's slow endpoint never
delays another partner's deliveries (per-partner attempt slots). Real HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from django.utils import timezone

from ccp.events import services
from ccp.events.choices import DeliveryStatus
from ccp.events.models import Delivery, DeliveryAttempt, Event
from tests.factories import PartnerFactory

from .conftest import Receiver, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@contextlib.contextmanager
def trickler(*, in_headers: bool, every: float = 0.3):
    """An endpoint that answers one byte at a time, forever: in the status line and headers, or in
    the body after complete headers. Each byte arrives well within any per-read timeout."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
            try:
                if in_headers:
                    for byte in head:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(every)
                self.wfile.write(head)
                self.wfile.flush()
                for _ in range(100000):
                    self.wfile.write(b".")
                    self.wfile.flush()
                    time.sleep(every)
            except OSError:  # the client hung up: what the deadline is for
                return

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()


def _delivery_for(tenant, partner, url) -> Delivery:
    services.subscription_create(partner=partner, url=url, event_types=["*"])
    with transaction.atomic():
        event = services.event_publish(tenant=tenant, partner=partner, type="message.created", data={"n": 1})
    services.event_fan_out(event_pks=[event.pk])
    services.event_relay(event_pks=[event.pk])  # deliveries created; their tasks wait in the queue
    return Delivery.objects.get(event=event)


@pytest.mark.parametrize("in_headers", [True, False], ids=["headers", "body"])
def test_a_trickling_receiver_is_cut_at_the_deadline_and_the_attempt_recorded(tenant, partner, settings, in_headers):
    settings.EVENTS_DELIVERY_DEADLINE_SECONDS = 1.5
    settings.EVENTS_DELIVERY_BACKOFF_BASE_SECONDS = settings.EVENTS_DELIVERY_BACKOFF_MAX_SECONDS = 30
    with trickler(in_headers=in_headers) as url:
        delivery = _delivery_for(tenant, partner, url)
        started = time.monotonic()
        services.delivery_attempt(delivery_id=delivery.pk)
        took = time.monotonic() - started
    assert 1.4 <= took < 3, took  # cut at the deadline, though every read got a byte in 0.3 s
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.succeeded is False and attempt.error == "deadline of 1.5 s exceeded"
    assert 1400 <= attempt.latency_ms < 3000
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING and delivery.attempt_count == 1
    assert delivery.claimed_until is None and delivery.next_attempt_at > timezone.now()  # backoff, not a loop


def test_a_receiver_that_resets_mid_body_is_recorded_as_a_failed_attempt(tenant, partner, settings):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
            self.wfile.flush()
            self.connection.close()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        delivery = _delivery_for(tenant, partner, f"http://127.0.0.1:{server.server_address[1]}/hooks")
        services.delivery_attempt(delivery_id=delivery.pk)
    finally:
        server.shutdown()
        server.server_close()
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.succeeded is False and "IncompleteRead" in attempt.error, attempt.error
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING and delivery.attempt_count == 1


class StampingReceiver(Receiver):
    """The suite's receiver, also noting when each event id first arrived (monotonic clock)."""

    def __init__(self):
        super().__init__()
        self.arrival_times: dict[int, float] = {}

    def succeeded(self) -> list[dict]:
        found = super().succeeded()
        now = time.monotonic()
        for r in found:
            self.arrival_times.setdefault(json.loads(r["body"])["id"], r.get("at", now))
        return found

    def start(self) -> StampingReceiver:
        super().start()
        handler = self.server.RequestHandlerClass
        plain = handler.do_POST
        receiver = self

        def do_post(request):
            plain(request)
            with receiver.lock:
                receiver.received[-1]["at"] = time.monotonic()

        handler.do_POST = do_post
        return self


def fast_partner_delays(tenant, settings, *, limit: int, events: int = 8) -> tuple[list[float], int, int]:
    """Publish `events` events to a partner whose endpoint trickles, interleaved with as many to a
    partner whose endpoint answers at once; return the fast partner's delays (commit → receipt, s)
    the slow partner's recorded deadline failures and its most attempts at once. Needs a running
    worker (4 threads)."""
    settings.EVENTS_DELIVERY_DEADLINE_SECONDS = 3
    settings.EVENTS_DELIVERY_PARTNER_CONCURRENCY = limit
    slow, fast = PartnerFactory(partner_identifier="slow-comms"), PartnerFactory(partner_identifier="fast-comms")
    receiver = StampingReceiver().start()
    committed: dict[int, float] = {}
    try:
        with trickler(in_headers=False, every=1.0) as slow_url:
            services.subscription_create(partner=slow, url=slow_url, event_types=["*"])
            services.subscription_create(partner=fast, url=receiver.url, event_types=["*"])
            for n in range(events):
                with transaction.atomic():
                    services.event_publish(tenant=tenant, partner=slow, type="message.created", data={"n": n})
                with transaction.atomic():
                    event = services.event_publish(tenant=tenant, partner=fast, type="message.created", data={"n": n})
                committed[event.pk] = time.monotonic()
                time.sleep(0.05)
            wait_for(lambda: len(receiver.succeeded()) >= events, timeout=60, what="the fast partner's deliveries")
            arrived = dict(receiver.arrival_times)
            slow_failures = DeliveryAttempt.objects.filter(
                delivery__subscription__partner=slow, error__startswith="deadline"
            )
            wait_for(lambda: slow_failures.count() >= 2, timeout=30, what="the slow partner's attempts to be cut")
    finally:
        receiver.stop()
    replay_to_pk = dict(Event.objects.filter(pk__in=committed).values_list("replay_id", "pk"))
    delays = sorted(arrived[rid] - committed[replay_to_pk[rid]] for rid in arrived if rid in replay_to_pk)
    return delays, slow_failures.count(), _most_at_once(slow_failures)


def _most_at_once(attempts) -> int:
    """The most attempts in flight at one time, from their recorded start and latency."""
    edges = []
    for attempted_at, latency_ms in attempts.values_list("attempted_at", "latency_ms"):
        start = attempted_at.timestamp()
        edges += [(start, 1), (start + latency_ms / 1000, -1)]
    most = current = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        current += step
        most = max(most, current)
    return most


def test_a_slow_partner_never_delays_another_partners_deliveries(tenant, settings, celery_worker):
    delays, cut, most = fast_partner_delays(tenant, settings, limit=2)
    print(
        f"\n[webhook isolation] fast partner delay: p50={delays[len(delays) // 2]:.3f} s max={delays[-1]:.3f} s; "
        f"slow partner attempts cut at the 3 s deadline: {cut}, at most {most} at once"
    )
    assert len(delays) == 8 and cut >= 2
    assert most <= 2  # the slow partner never held more than its two attempt slots
    # without the per-partner limit the slow endpoint takes all 4 worker threads for 3 s at a time
    assert delays[-1] < 1.5, delays
