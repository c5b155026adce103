"""The example e-mail partner (examples/email_partner) end to end over real SMTP: daphne serves the
platform, the partner runs as its own process (`python examples/email_partner/main.py`), a local
aiosmtpd sink stands in for the outbound relay, and the customer's mails are sent with smtplib.

It checks the offer (with the e-mail channel's longer offer timeout), the agent's threaded reply on
the sink (Message-ID, In-Reply-To, References, `Re: <subject>`), that a reply lands in the same
conversation while it is open, a new subject in its own, a reply after the close in a follow-up, and
that hostile HTML and a 10 MB attachment are handled with visible notes and a notice to the sender."""

import contextlib
import json
import os
import queue
import smtplib
import subprocess
import sys
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
import requests
from aiosmtpd.controller import Controller

from ccp.packages.models import Partner
from conversations.management.commands._demo_email import (
    EMAIL_CHANNEL_ADDRESS,
    EMAIL_SUPPORT_ADDRESS,
    install_demo_email,
)
from conversations.models import Conversation, Message
from routing.models import AgentWork
from tests.conversations.conftest import online
from tests.conversations.test_interactions import agent_client
from tests.factories import connected_app_for
from tests.servers import ROOT, daphne_server, free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
CUSTOMER = "ann@customer.example"


class Sink:
    """The relay: an SMTP server that keeps every message it is given."""

    def __init__(self):
        self.messages: queue.Queue = queue.Queue()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        self.messages.put((envelope.mail_from, envelope.rcpt_tos, parsed))
        return "250 OK"

    def next(self, timeout: float = 30):
        return self.messages.get(timeout=timeout)


@pytest.fixture
def email_stack(tenant, partner: Partner, tmp_path):
    """daphne + the partner process + the sink; yields (sink, partner SMTP port, partner HTTP URL)."""
    _, secret = connected_app_for(partner)
    client_id = partner.connected_apps.first().application.client_id
    install_demo_email(partner, tenant)
    sink = Sink()
    sink.controller.start()
    smtp_port, http_port = free_port(), free_port()
    log_path = tmp_path / "email_partner.log"
    with contextlib.ExitStack() as stack:
        platform = stack.enter_context(daphne_server())
        demo = {
            "partner": {"client_id": client_id, "client_secret": secret},
            "email": {"support_address": EMAIL_SUPPORT_ADDRESS, "channel_address_id": EMAIL_CHANNEL_ADDRESS},
        }
        env = {
            **os.environ,
            "CCP_URL": platform,
            "CCP_DEMO_JSON": json.dumps(demo),
            "EMAIL_SMTP_PORT": str(smtp_port),
            "EMAIL_RELAY": f"127.0.0.1:{sink.port}",
            "EMAIL_HTTP_PORT": str(http_port),
            "EMAIL_DATA_DIR": str(tmp_path / "partner"),
            "PYTHONUNBUFFERED": "1",
        }
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, str(ROOT / "examples/email_partner/main.py")],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )

        def ready():
            assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
            return "email partner listening" in log_path.read_text(errors="replace")

        try:
            wait_for(ready, timeout=60, what="the e-mail partner to start")
            url = f"http://127.0.0.1:{http_port}"
            wait_for(lambda: requests.get(f"{url}/api/status", timeout=2).json()["connected"], what="its stream")
            yield sink, smtp_port, url, log_path
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            with contextlib.suppress(Exception):  # a test may have stopped it already
                sink.controller.stop()


def _mail(subject, text, *, message_id, html=None, in_reply_to=None, references=None, sender=CUSTOMER):
    msg = EmailMessage()
    msg["From"] = f"Ann Example <{sender}>"
    msg["To"] = f"Acme Support <{EMAIL_SUPPORT_ADDRESS}>"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def _send(port: int, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(msg)


def _inbound(conversation_id=None, **filters):
    query = Message.objects.filter(direction="inbound", **filters)
    if conversation_id:
        query = query.filter(conversation_id=conversation_id)
    return query


def test_a_mail_thread_through_the_partner_and_the_agent_reply_threads(email_stack, alice):
    sink, port, _url, _log = email_stack
    online(alice)
    first = _mail(
        "Printer on fire",
        "Hello,\nmy printer is on fire.\n\nAnn",
        html="<p>Hello,</p><p>my printer is <b>on fire</b>.</p>",
        message_id="<m1@customer.example>",
    )
    first.add_attachment(b"%PDF-1.4 receipt", maintype="application", subtype="pdf", filename="receipt.pdf")
    _send(port, first)

    work = wait_for(lambda: AgentWork.objects.filter(status="offered").first(), what="an offer")
    assert work.agent == alice
    assert work.work_item.channel_type == "messaging"  # e-mail counts against messaging capacity
    assert 290 <= (work.expires_at - work.offered_at).total_seconds() <= 310  # the e-mail offer timeout
    message = _inbound().get()
    conversation = message.conversation
    assert conversation.subject == "Printer on fire" and conversation.thread_key == "<m1@customer.example>"
    assert message.subject == "Printer on fire" and message.sender_name == "Ann Example"
    assert message.text.startswith("Hello,\nmy printer is on fire.")
    assert message.html == "<p>Hello,</p><p>my printer is <b>on fire</b>.</p>"
    assert message.partner_entry_id == "<m1@customer.example>"
    (attachment,) = message.attachments
    assert attachment["name"] == "receipt.pdf" and attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(b"%PDF-1.4 receipt")
    served = requests.get(attachment["url"], timeout=5)
    assert served.content == b"%PDF-1.4 receipt" and served.headers["Content-Type"] == "application/pdf"
    assert served.headers["Content-Disposition"].startswith("attachment")

    agent = agent_client(alice)
    (offer,) = agent.get("/api/v1/agent/state/").json()["work"]  # what the workspace loads
    assert offer["work_id"] == str(work.pk) and offer["attributes"]["channel_type"] == "email"
    assert offer["attributes"]["first_message"].startswith("Hello,")
    assert agent.post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    detail = agent.get(f"/api/v1/agent/conversations/{conversation.pk}/messages/").json()
    assert detail[0]["subject"] == "Printer on fire" and "<b>on fire</b>" in detail[0]["html"]
    reply = agent.post(
        f"/api/v1/agent/conversations/{conversation.pk}/messages/",
        {"text": "Please unplug it. We are sending a technician."},
        format="json",
    )
    assert reply.status_code == 201, reply.content
    mail_from, rcpt_tos, answer = sink.next()
    assert rcpt_tos == [CUSTOMER] and mail_from == EMAIL_SUPPORT_ADDRESS
    assert answer["Subject"] == "Re: Printer on fire"
    assert answer["In-Reply-To"] == "<m1@customer.example>"
    assert "<m1@customer.example>" in answer["References"].split()
    assert answer["Message-ID"] == f"<ccp-{reply.json()['id']}@acme.example>"
    assert EMAIL_SUPPORT_ADDRESS in answer["From"] and "Alice" in answer["From"]
    assert answer.get_body(("plain",)).get_content().strip() == "Please unplug it. We are sending a technician."

    # the customer answers the agent's mail: same thread, same conversation
    _send(
        port,
        _mail(
            "Re: Printer on fire",
            "Done, thanks!\n\n> Please unplug it.",
            message_id="<m2@customer.example>",
            in_reply_to=answer["Message-ID"],
            references=f"<m1@customer.example> {answer['Message-ID']}",
        ),
    )
    wait_for(lambda: _inbound(conversation.pk).count() == 2, what="the reply in the same conversation")
    # a new subject from the same address while the first is open: a conversation of its own
    _send(port, _mail("Invoice question", "Why was I billed twice?", message_id="<m3@customer.example>"))
    other = wait_for(lambda: _inbound(subject="Invoice question").first(), what="the new thread").conversation
    assert other.pk != conversation.pk and other.subject == "Invoice question"
    assert Conversation.objects.filter(end_user_address=CUSTOMER, status__in=["routing", "active"]).count() == 2

    # after the close, a reply in the old thread opens a follow-up conversation
    assert agent.post(f"/api/v1/agent/conversations/{conversation.pk}/close/").status_code == 200
    _send(
        port,
        _mail(
            "Re: Printer on fire",
            "It is on fire again.",
            message_id="<m4@customer.example>",
            in_reply_to="<m2@customer.example>",
            references="<m1@customer.example> <m2@customer.example>",
        ),
    )
    follow_up = wait_for(lambda: _inbound(partner_entry_id="<m4@customer.example>").first(), what="the follow-up")
    assert follow_up.conversation_id not in (conversation.pk, other.pk)
    assert follow_up.conversation.thread_key == "<m1@customer.example>"

    # re-sending the same mail (an MTA retry) stores nothing twice
    _send(port, _mail("Invoice question", "Why was I billed twice?", message_id="<m3@customer.example>"))
    _send(port, _mail("Ping", "ping", message_id="<m5@customer.example>"))
    wait_for(lambda: _inbound(partner_entry_id="<m5@customer.example>").exists(), what="the ping")
    assert _inbound(partner_entry_id="<m3@customer.example>").count() == 1


HOSTILE = """<html><head><style>body{background:url(javascript:alert(1))}</style>
<script>window.pwned = 1; alert('script')</script></head><body>
<p onclick="alert('click')">Hello <b>support</b></p>
<img src="x" onerror="window.pwned = 2">
<a href="javascript:window.pwned = 3">click me</a>
<iframe src="https://evil.example/"></iframe>
<svg onload="window.pwned = 4"><script>window.pwned = 5</script></svg>
<div style="width: expression(alert(1))">css</div>
<form action="https://evil.example/"><input name="password"></form>
</body></html>"""


def test_hostile_html_and_a_10_mb_attachment_are_handled_with_clear_notes(email_stack, alice):
    sink, port, _url, _log = email_stack
    online(alice)
    mail = _mail("Look at this", "Hello support", html=HOSTILE, message_id="<evil@customer.example>")
    mail.add_attachment(b"\0" * (10 * 1024 * 1024), maintype="application", subtype="octet-stream", filename="big.bin")
    mail.add_attachment(b"small", maintype="text", subtype="plain", filename="note.txt")
    _send(port, mail)

    message = wait_for(lambda: _inbound().first(), what="the mail")
    lowered = message.html.lower()
    for bad in ("<script", "onerror", "onclick", "onload", "javascript:", "<iframe", "<svg", "expression", "<form"):
        assert bad not in lowered, bad
    assert "Hello <b>support</b>" in message.html
    # the large file is not there, and the agents read why
    assert [a["name"] for a in message.attachments] == ["note.txt"]
    assert "[Not accepted] The attachment big.bin (10.0 MB) was not accepted" in message.text
    # the sender is told too, by an automatic notice from the null sender (no mail loops)
    mail_from, rcpt_tos, notice = sink.next()
    assert mail_from == "<>" and rcpt_tos == [CUSTOMER]
    assert notice["Auto-Submitted"] == "auto-replied" and notice["In-Reply-To"] == "<evil@customer.example>"
    assert "big.bin" in notice.get_body(("plain",)).get_content()

    # a reply the relay refuses is not lost either: the agent sees it as not delivered, with why
    sink.controller.stop()
    work = wait_for(lambda: AgentWork.objects.filter(status="offered").first(), what="the offer")
    agent = agent_client(alice)
    assert agent.post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    reply = agent.post(
        f"/api/v1/agent/conversations/{message.conversation_id}/messages/", {"text": "Got it"}, format="json"
    ).json()
    failed = wait_for(
        lambda: Message.objects.filter(pk=reply["id"], status="failed").first(), timeout=60, what="delivery_failed"
    )
    assert failed.failure_reason.startswith("the mail relay refused it")


def test_a_mail_for_an_unknown_mailbox_is_refused_at_rcpt(email_stack):
    _sink, port, _url, _log = email_stack
    msg = _mail("Hi", "hello", message_id="<x@customer.example>")
    del msg["To"]
    msg["To"] = "nobody@acme.example"
    with pytest.raises(smtplib.SMTPRecipientsRefused), smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(msg)
