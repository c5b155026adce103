"""MIME parsing and composing of the example e-mail partner (examples/email_partner/mail.py), on
messages built the way real mail clients write them; no network."""

import importlib.util
import sys
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from tests.servers import ROOT


def _load():
    spec = importlib.util.spec_from_file_location("email_partner_mail", ROOT / "examples/email_partner/mail.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


mail = _load()


def _raw(**headers) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", '"Ann Example" <Ann@Customer.Example>')
    msg["To"] = headers.pop("To", "Support <support@acme.example>")
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    return msg


def test_a_multipart_alternative_mail_with_attachments():
    msg = _raw(Subject="=?utf-8?q?Caf=C3=A9_order_=E2=98=95?=", Message_ID="<abc@mua.example>")
    msg["Date"] = "Tue, 01 Dec 2026 10:00:00 +0100"
    msg.set_content("Hello,\r\nmy order is late.\r\n")
    msg.add_alternative("<p>Hello,</p><p>my order is <b>late</b>.</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="../../etc/passwd.pdf")
    msg.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename="photo\u202e.png")
    parsed = mail.mail_parse(msg.as_bytes())
    assert parsed.message_id == "<abc@mua.example>"
    assert parsed.from_address == "ann@customer.example" and parsed.from_name == "Ann Example"
    assert parsed.to == ["support@acme.example"]
    assert parsed.subject == "Café order ☕"  # RFC 2047 decoded
    assert parsed.text == "Hello,\nmy order is late."
    assert parsed.html == "<p>Hello,</p><p>my order is <b>late</b>.</p>"
    assert parsed.date.isoformat() == "2026-12-01T10:00:00+01:00"
    names = [(a.name, a.content_type, a.size) for a in parsed.attachments]
    assert names == [("passwd.pdf", "application/pdf", 8), ("photo_.png", "image/png", 4)]  # no path, no bidi
    assert not parsed.auto_submitted


def test_threading_headers_nearest_first():
    msg = _raw(
        Subject="Re: Re: Printer",
        Message_ID="<m3@x>",
        In_Reply_To="<m2@x>",
        References="<m1@x>  <m2@x>",
    )
    msg.set_content("thanks")
    parsed = mail.mail_parse(msg.as_bytes())
    assert parsed.in_reply_to == ["<m2@x>"] and parsed.references == ["<m1@x>", "<m2@x>"]
    assert parsed.thread_ids == ["<m2@x>", "<m1@x>"]


def test_a_mail_without_message_id_gets_a_stable_one_and_html_only_gets_text():
    msg = _raw(Subject="no id")
    msg.set_content(
        "<html><head><style>p{}</style></head><body><p>Line one</p><p>Line <b>two</b></p></body></html>", subtype="html"
    )
    raw = msg.as_bytes()
    first, again = mail.mail_parse(raw), mail.mail_parse(raw)
    assert first.message_id == again.message_id and first.message_id.startswith("<sha256-")
    assert first.text == "" and mail.html_text(first.html) == "Line one\n\nLine two"


@pytest.mark.parametrize(
    ("headers", "auto"),
    [({"Auto_Submitted": "auto-replied"}, True), ({"Precedence": "bulk"}, True), ({"Auto_Submitted": "no"}, False)],
)
def test_automatic_mail_is_recognised(headers, auto):
    msg = _raw(Subject="Out of office", Message_ID="<o@x>", **headers)
    msg.set_content("I am away")
    assert mail.mail_parse(msg.as_bytes()).auto_submitted is auto


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Printer", "Re: Printer"),
        ("Re: Printer", "Re: Printer"),
        ("RE: re: AW: Printer", "Re: Printer"),
        ("Fwd: Printer", "Re: Printer"),
        ("", "Re: your message"),
    ],
)
def test_reply_subject(subject, expected):
    assert mail.reply_subject(subject) == expected


def test_the_reply_threads_under_the_customers_mail():
    reply = mail.reply_compose(
        message_id="<ccp-1@acme.example>",
        from_address="support@acme.example",
        from_name="Alice (Support)",
        to="ann@customer.example",
        subject="Printer",
        text="Please unplug it.",
        in_reply_to="<m2@x>",
        references=["<m1@x>", "<m2@x>"],
    )
    parsed = BytesParser(policy=policy.default).parsebytes(reply.as_bytes())
    assert parsed["Subject"] == "Re: Printer" and parsed["Message-ID"] == "<ccp-1@acme.example>"
    assert parsed["In-Reply-To"] == "<m2@x>" and parsed["References"] == "<m1@x> <m2@x>"
    assert parsed["From"] == '"Alice (Support)" <support@acme.example>'
    assert parsed.get_body(("plain",)).get_content().strip() == "Please unplug it."
    assert parsed["Date"].datetime.tzinfo is not None  # RFC 5322 requires it
