"""The call-control round trip with a real telephony partner: the platform under daphne with a real
Celery worker delivering webhooks to a local HTTP server of the partner, which verifies each
signature, carries out the control on its "telephony system" and reports back through the SDK."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from ccp.celery import app as celery_app
from ccp_partner import Client, Deduplicator, InvalidSignature, verify_signature
from conversations.models import Call, CallControlRequest
from routing.models import AgentWork
from tests.events.conftest import Receiver  # noqa: F401  (sets this run's Celery queue)
from tests.factories import connected_app_for
from tests.servers import celery_worker_process, daphne_server, stop_process, wait_for

from .conftest import online
from .voice import CALL_CENTER, install_call_center

pytestmark = pytest.mark.django_db(transaction=True)


class TelephonyPartner:
    """The partner's webhook endpoint and its telephony system: a hold is a `held` event, a hang-up
    an `ended` one with the recording; every control is reported done, a DTMF one failed."""

    def __init__(self):
        self.secret = ""
        self.client: Client | None = None
        self.dedup = Deduplicator()
        self.requested: list[dict] = []
        self.errors: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def _handler(self):
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    verify_signature(partner.secret, body, self.headers)
                except InvalidSignature as exc:
                    partner.errors.append(f"bad signature: {exc.reason}")
                    self.send_response(400)
                    self.end_headers()
                    return
                if partner.dedup.first_delivery(self.headers):
                    try:
                        partner.handle(json.loads(body))
                    except Exception as exc:
                        partner.errors.append(repr(exc))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler

    def handle(self, envelope: dict) -> None:
        if envelope["type"] != "call.control_requested":
            return
        data = envelope["data"]
        self.requested.append(data)
        call_id, action = data["call_id"], data["action"]
        if action == "answer":
            self.client.send_call_event(call_id, "connected", event_id=f"{data['request_id']}-connected")
        elif action == "hold":
            self.client.send_call_event(call_id, "held", event_id=f"{data['request_id']}-held")
        elif action == "resume":
            self.client.send_call_event(call_id, "resumed", event_id=f"{data['request_id']}-resumed")
        elif action == "hangup":
            self.client.send_call_event(call_id, "ended", event_id=f"{data['request_id']}-ended", reason="completed")
            recording = {"url": "http://127.0.0.1:9/r.wav", "duration_seconds": 3, "content_type": "audio/wav"}
            self.client.send_call_event(call_id, "recording_ready", event_id="rec", recording=recording)
        if action == "send_dtmf":
            self.client.report_control(call_id, data["request_id"], "failed", reason="no DTMF on this line")
        else:
            self.client.report_control(call_id, data["request_id"], "done")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_controls_round_trip_through_a_real_telephony_partner(tenant, partner, alice):
    install_call_center(tenant, partner)
    online(alice)
    app, secret = connected_app_for(partner)
    queue = celery_app.conf.task_default_queue
    env = {"WEBHOOK_ALLOW_LOOPBACK": "1", "CELERY_QUEUE": queue, "LOG_LEVEL": "ERROR"}
    worker = celery_worker_process(queue=queue, env=env)
    telephony = TelephonyPartner()
    try:
        with daphne_server(**env) as platform:
            sdk = Client(platform, app.application.client_id, secret)
            telephony.client = sdk
            telephony.secret = sdk.create_subscription(telephony.url, ["call.control_requested"])["secret"]

            created = sdk.create_call(CALL_CENTER, "+4915100001", "pbx-1", from_name="Ann")
            assert created["status"] == "queued"
            assert sdk.create_call(CALL_CENTER, "+4915100001", "pbx-1", from_name="Ann") == created
            work = wait_for(lambda: AgentWork.objects.filter(agent=alice, status="offered").first(), what="the offer")
            agent = APIClient()
            agent.force_login(alice.user)
            assert agent.post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
            # accepting asks the partner to connect the agent; it does and reports so
            wait_for(lambda: sdk.get_call("pbx-1")["status"] == "connected", timeout=60, what="connected")
            assert sdk.get_call("pbx-1")["agent_id"] == str(alice.pk)

            controls = "/api/v1/agent/calls/pbx-1/controls/"
            hold = agent.post(controls, {"action": "hold"}, format="json")
            assert hold.status_code == 202, hold.content
            hold_id = hold.json()["request_id"]
            wait_for(lambda: CallControlRequest.objects.get(pk=hold_id).status == "done", timeout=60, what="hold done")
            assert Call.objects.get().status == "on_hold"

            assert agent.post(controls, {"action": "resume"}, format="json").status_code == 202
            wait_for(lambda: Call.objects.get().status == "connected", timeout=60, what="resumed")
            dtmf = agent.post(controls, {"action": "send_dtmf", "digits": "1"}, format="json").json()["request_id"]
            failed = wait_for(
                lambda: CallControlRequest.objects.filter(pk=dtmf, status="failed").first(), timeout=60, what="dtmf"
            )
            assert failed.reason == "no DTMF on this line"

            assert agent.post(controls, {"action": "hangup"}, format="json").status_code == 202
            call = wait_for(
                lambda: (
                    Call.objects.filter(status="ended", recording_url__isnull=False).exclude(recording_url="").first()
                ),
                timeout=60,
                what="the hang-up and its recording",
            )
            assert call.end_reason == "completed"
            assert [d["action"] for d in telephony.requested] == ["answer", "hold", "resume", "send_dtmf", "hangup"]
            statuses = dict(CallControlRequest.objects.values_list("action", "status"))
            assert statuses == {
                "answer": "done",
                "hold": "done",
                "send_dtmf": "failed",
                "resume": "done",
                "hangup": "done",
            }
            assert AgentWork.objects.get(agent=alice).status in ("acw", "closed")
            assert not telephony.errors, telephony.errors
            sdk.close()
    finally:
        telephony.stop()
        stop_process(worker)
