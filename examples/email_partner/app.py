"""The example e-mail partner: support mailboxes plugged into ccp through the public API only.

Inbound: an SMTP server (aiosmtpd) accepts mail for the tenant's support addresses, parses it with
the standard library (mail.py) and posts it as an interaction — sender address and name, subject,
text and HTML parts, and attachments, which it keeps and serves over HTTP itself. Outbound: it
follows the event stream (SSE) and turns each agent reply (the package's `EmailOutbound__e` event)
into an e-mail sent to the relay, threaded with Message-ID, In-Reply-To and References.

Threading: every Message-ID seen or sent is mapped to a thread key (the Message-ID of the mail
that started the thread), and each interaction carries that key as `thread`, so the platform keeps
one open conversation per (support address, customer, thread): a reply lands in its thread's open
conversation, a new subject opens its own, and a reply after the close opens a follow-up.

Nothing is lost silently: a part that cannot be accepted (an attachment over the limit, a body too
long) is named in a note at the end of the message the agents read, and the sender gets an
automatic notice; when the platform cannot be reached the SMTP answer is a temporary failure (451),
so the sending server retries later. State (the thread map, the stream cursor) is one JSON file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import mimetypes
import secrets
import smtplib
import threading
import time
from email.utils import make_msgid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from aiosmtpd.controller import Controller
from mail import ParsedMail, bounce_compose, html_text, mail_parse, reply_compose

from ccp_partner import CcpError, Client

log = logging.getLogger("email_partner")
HERE = Path(__file__).resolve().parent
MANIFEST = json.loads((HERE / "manifest.json").read_text())
OUTBOUND_TYPE = next(e["api_name"] for e in MANIFEST["event_types"] if e.get("outbound_messages"))

# The platform's limits (docs/partner-api.md, "Limits"); the partner stays under them itself.
MAX_TEXT_CHARS = 100_000
MAX_HTML_CHARS = 1_000_000
MAX_BODY_BYTES = 2_500_000  # under API_MAX_BODY_BYTES (2.5 MiB) with room for the envelope
MAX_ATTACHMENTS = 10
MAX_ENTRY_ID = 200


def _key(message_id: str) -> str:
    """A Message-ID as an entry id / thread key (at most 200 characters)."""
    if len(message_id) <= MAX_ENTRY_ID:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


class Rejected(Exception):
    """The mail is refused for good: the SMTP answer is this permanent 5xx."""


class Deferred(Exception):
    """The mail cannot be taken now (the platform is unreachable): 451, the sender retries."""


class EmailPartner:
    def __init__(
        self,
        *,
        client: Client,
        mailboxes: dict[str, str],
        relay: tuple[str, int] | None,
        public_url: str,
        data_dir: Path,
        max_attachment_bytes: int = 5 * 1024 * 1024,
        manifest: dict | None = None,
    ):
        self.client = client
        self.mailboxes = {k.lower(): v for k, v in mailboxes.items()}  # support address -> channel_address_id
        self.addresses = {v: k for k, v in self.mailboxes.items()}  # channel_address_id -> support address
        self.relay = relay
        self.public_url = public_url.rstrip("/")
        self.data_dir = data_dir
        self.files = data_dir / "attachments"
        self.outbox = data_dir / "outbox"  # where mail goes when no relay is configured
        self.max_attachment_bytes = max_attachment_bytes
        self.manifest = manifest or MANIFEST
        self.state_file = data_dir / "state.json"
        self.lock = threading.RLock()
        self.state = {"last_event_id": None, "messages": {}, "threads": {}, "conversations": {}, "sent": {}}
        if self.state_file.exists():
            self.state.update(json.loads(self.state_file.read_text()))
        self.connected = False
        self.received = 0
        self.sent = 0
        self.stopping = threading.Event()

    # --- state ---------------------------------------------------------------------------------

    def _save(self) -> None:
        with self.lock:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.state))
            tmp.replace(self.state_file)

    def thread_of(self, mail: ParsedMail) -> str:
        """The thread this mail belongs to: that of the nearest message it answers that we know, or a
        new one started by this mail."""
        with self.lock:
            for mid in mail.thread_ids:
                known = self.state["messages"].get(mid)
                if known:
                    return known
            return _key(mail.message_id)

    # --- the platform side ---------------------------------------------------------------------

    def ensure_package(self) -> str:
        """Publish the manifest if this partner has not yet (a partner keeps its package in git)."""
        return self.client.package_ensure_published(self.manifest)

    def start_cursor(self) -> None:
        """Resume after the last event handled, or start at the newest one (old replies are not re-sent)."""
        if self.state.get("last_event_id") is not None:
            return
        for event in self.client.iter_events(after=None):
            self.state["last_event_id"] = str(event["id"])
        self._save()

    def follow_events(self) -> None:
        while not self.stopping.is_set():
            try:
                self.connected = True
                for event in self.client.stream_events(after=self.state.get("last_event_id")):
                    self.handle(event.json())
                    with self.lock:
                        self.state["last_event_id"] = event.id
                        self._save()
                    if self.stopping.is_set():
                        return
            except CcpError as exc:
                self.connected = False
                log.warning("event stream: %s; retrying", exc)
                self.stopping.wait(2)

    def handle(self, envelope: dict) -> None:
        if envelope.get("type") != OUTBOUND_TYPE:
            return
        data = envelope.get("data") or {}
        if data.get("channel_address_id") not in self.addresses:
            return  # another channel of the same package (another tenant's mailbox we do not serve)
        try:
            self.send_reply(data)
        except Exception:  # one bad event must not stop the stream; it is logged and reported
            log.exception("could not send the reply of event %s", envelope.get("id"))

    # --- inbound ---------------------------------------------------------------------------------

    def receive(self, raw: bytes, rcpt_tos: list[str]) -> dict:
        """Post one received mail to ccp; returns the interaction's result."""
        mail = mail_parse(raw)
        mailbox = next((r.lower() for r in rcpt_tos if r.lower() in self.mailboxes), None)
        if mailbox is None:
            raise Rejected("550 5.1.1 No such mailbox here")
        if not mail.from_address or "@" not in mail.from_address:
            raise Rejected("550 5.1.7 The From address is missing or not valid")
        channel = self.mailboxes[mailbox]
        thread = self.thread_of(mail)
        entry, notes = self._entry(mail, raw)
        result = self._post(channel, mail, entry, notes, thread)
        with self.lock:
            self.state["messages"][mail.message_id] = thread
            info = self.state["threads"].setdefault(
                thread, {"subject": mail.subject, "address": mail.from_address, "channel": channel, "references": []}
            )
            info["subject"] = info.get("subject") or mail.subject
            info["last_inbound"] = mail.message_id
            refs = [r for r in [*mail.references, mail.message_id] if r not in info["references"]]
            info["references"] = (info["references"] + refs)[-50:]
            info["conversation_id"] = result["conversation_id"]
            self.state["conversations"][result["conversation_id"]] = thread
            self._save()
        self.received += 1
        if notes and not mail.auto_submitted:
            self._bounce(mailbox, mail, notes)
        log.info("mail %s from %s -> conversation %s", mail.message_id, mail.from_address, result["conversation_id"])
        return result

    def _entry(self, mail: ParsedMail, raw: bytes) -> tuple[dict, list[str]]:
        notes: list[str] = []
        attachments = []
        for part in mail.attachments:
            if part.size > self.max_attachment_bytes:
                notes.append(
                    f"The attachment {part.name} ({_megabytes(part.size)}) was not accepted: "
                    f"attachments may be at most {_megabytes(self.max_attachment_bytes)}."
                )
                continue
            if len(attachments) >= MAX_ATTACHMENTS - 1:  # one place kept for the original message
                notes.append(f"The attachment {part.name} was not accepted: at most {MAX_ATTACHMENTS - 1} files.")
                continue
            attachments.append(self._store(part.name, part.content_type, part.data))
        text = mail.text or html_text(mail.html)
        html = mail.html
        keep_original = False
        if len(text) > MAX_TEXT_CHARS - 2000:  # room for the notes
            text, keep_original = text[: MAX_TEXT_CHARS - 2000].rstrip(), True
            notes.append("The message was longer than 98,000 characters: it is cut here; the whole e-mail is attached.")
        if len(html) > MAX_HTML_CHARS:
            html, keep_original = "", True
            notes.append("The HTML version was too large to show; the plain text is shown and the e-mail attached.")
        if keep_original:
            attachments.append(self._store("original.eml", "message/rfc822", raw))
        if not text.strip() and not attachments:
            text = "(This e-mail has no text.)"
        entry = {
            "id": _key(mail.message_id),
            "type": "message",
            "text": text,
            "subject": mail.subject[:998],
            "attachments": attachments,
        }
        if html:
            entry["html"] = html
        if mail.date is not None:
            entry["timestamp"] = mail.date.isoformat()
        return entry, notes

    def _post(self, channel: str, mail: ParsedMail, entry: dict, notes: list[str], thread: str) -> dict:
        def send(e: dict) -> dict:
            body = dict(e)
            if notes:
                told = "\n".join(f"[Not accepted] {n}" for n in notes)[:1900]
                body["text"] = (body["text"] + "\n\n" + told).strip()
            return self.client.send_interaction(
                channel, mail.from_address, [body], from_name=mail.from_name or None, thread=thread
            )

        if len(json.dumps(entry).encode()) > MAX_BODY_BYTES and "html" in entry:
            entry = {k: v for k, v in entry.items() if k != "html"}
            notes.append("The HTML version made the message too large; the plain text is shown.")
        try:
            return send(entry)
        except CcpError as exc:
            if exc.status == 413 and "html" in entry:  # the platform's body limit: try the text alone
                notes.append("The HTML version made the message too large; the plain text is shown.")
                return send({k: v for k, v in entry.items() if k != "html"})
            if exc.status is None or exc.status >= 500 or exc.status == 429:
                raise Deferred(f"451 4.3.0 The support system is not reachable now ({exc.code}); try again") from exc
            raise Rejected(f"550 5.7.1 Not accepted: {exc.message}"[:400]) from exc

    def _store(self, name: str, content_type: str, data: bytes) -> dict:
        token = secrets.token_urlsafe(16)
        folder = self.files / token
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        (folder / ".type").write_text(content_type)
        return {
            "url": f"{self.public_url}/attachments/{token}/{quote(name)}",
            "content_type": content_type,
            "name": name,
            "size": len(data),
        }

    def _bounce(self, mailbox: str, mail: ParsedMail, reasons: list[str]) -> None:
        domain = mailbox.partition("@")[2]
        notice = bounce_compose(
            from_address=mailbox,
            to=mail.from_address,
            original=mail,
            reasons=reasons,
            message_id=make_msgid(domain=domain),
        )
        try:
            self._deliver(notice, envelope_from="")  # null sender: nobody answers an automatic notice
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("could not send the notice to %s: %s", mail.from_address, exc)

    # --- outbound --------------------------------------------------------------------------------

    def send_reply(self, data: dict) -> None:
        payload = data.get("payload") or {}
        ccp_id = str(payload.get("message_id") or "")
        channel = data["channel_address_id"]
        mailbox = self.addresses[channel]
        with self.lock:
            if ccp_id in self.state["sent"]:
                return  # delivery is at least once: this reply went out already
            thread = self.state["conversations"].get(str(payload.get("conversation_id")))
            info = dict(self.state["threads"].get(thread) or {}) if thread else {}
        domain = mailbox.partition("@")[2]
        message_id = f"<ccp-{ccp_id}@{domain}>"
        text = payload.get("text") or ""
        files = [a for a in payload.get("attachments") or [] if a.get("url")]
        if files:
            text += "\n\nAttachments:\n" + "\n".join(f"  {a.get('name') or 'file'}: {a['url']}" for a in files)
        sender = payload.get("sender_name") or "Support"
        msg = reply_compose(
            message_id=message_id,
            from_address=mailbox,
            from_name=f"{sender} (Support)" if payload.get("sender_type") == "agent" else sender,
            to=data["recipient"],
            subject=info.get("subject") or payload.get("subject") or "",
            text=text,
            in_reply_to=info.get("last_inbound"),
            references=info.get("references") or [],
        )
        error = None
        for attempt in range(3):
            try:
                self._deliver(msg, envelope_from=mailbox)
                error = None
                break
            except (OSError, smtplib.SMTPException) as exc:
                error = f"the mail relay refused it: {exc}"[:300]
                time.sleep(0.5 * (attempt + 1))
        with self.lock:
            self.state["sent"][ccp_id] = message_id
            if thread:
                self.state["messages"][message_id] = thread
                refs = self.state["threads"][thread].setdefault("references", [])
                refs.append(message_id)
                del refs[:-50]
            self._save()
        if error is not None:
            log.warning("reply %s not sent: %s", ccp_id, error)
            self.client.send_interaction(
                channel,
                data["recipient"],
                [{"id": f"failed-{ccp_id}", "type": "delivery_failed", "message_id": ccp_id, "reason": error}],
                thread=thread,
            )
            return
        self.sent += 1
        log.info("reply %s sent to %s as %s", ccp_id, data["recipient"], message_id)

    def _deliver(self, msg, *, envelope_from: str) -> None:
        if self.relay is None:  # the demo without a relay: drop it in the outbox folder
            self.outbox.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha256(str(msg["Message-ID"]).encode()).hexdigest()[:16]
            (self.outbox / f"{name}.eml").write_bytes(msg.as_bytes())
            return
        host, port = self.relay
        with smtplib.SMTP(host, port, timeout=15) as smtp:
            smtp.send_message(msg, from_addr=envelope_from, to_addrs=[str(msg["To"])])


class SmtpHandler:
    """aiosmtpd's handler: mail only for our mailboxes; each message posted off the event loop."""

    def __init__(self, partner: EmailPartner):
        self.partner = partner

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() not in self.partner.mailboxes:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.partner.receive, raw, envelope.rcpt_tos)
        except (Rejected, Deferred) as exc:
            return str(exc)
        except Exception:
            log.exception("could not take a mail")
            return "451 4.3.0 Temporary failure; try again later"
        return "250 2.0.0 Message accepted for delivery"


def make_handler(partner: EmailPartner):
    class Handler(BaseHTTPRequestHandler):
        server_version = "email-partner/1.0"

        def log_message(self, fmt, *args):
            log.debug(fmt, *args)

        def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/api/status":
                body = {
                    "connected": partner.connected,
                    "mailboxes": partner.mailboxes,
                    "received": partner.received,
                    "sent": partner.sent,
                    "last_event_id": partner.state.get("last_event_id"),
                }
                return self._send(200, json.dumps(body).encode(), "application/json")
            parts = url.path.split("/")
            if len(parts) == 4 and parts[1] == "attachments":
                token, name = parts[2], unquote(parts[3])
                folder = (partner.files / token).resolve()
                path = (folder / name).resolve()
                if folder.parent == partner.files.resolve() and path.parent == folder and path.is_file():
                    kind = (folder / ".type").read_text() if (folder / ".type").exists() else ""
                    kind = kind or mimetypes.guess_type(name)[0] or "application/octet-stream"
                    # a file from a stranger: downloaded, never rendered in our origin
                    headers = {
                        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                        "Content-Security-Policy": "sandbox; default-src 'none'",
                    }
                    return self._send(200, path.read_bytes(), kind, headers)
            return self._send(404, b'{"error": "not found"}', "application/json")

    return Handler


def serve(
    *,
    platform_url: str,
    client_id: str,
    client_secret: str,
    mailboxes: dict[str, str],
    smtp_port: int,
    relay: tuple[str, int] | None,
    http_port: int,
    data_dir: Path,
    public_url: str | None = None,
    max_attachment_bytes: int = 5 * 1024 * 1024,
    max_message_bytes: int = 25 * 1024 * 1024,
    manifest: dict | None = None,
):
    """Publish the package if needed, start following events and the SMTP server; returns
    (partner, HTTP server for the attachments, SMTP controller)."""
    client = Client(platform_url, client_id, client_secret)
    partner = EmailPartner(
        client=client,
        mailboxes=mailboxes,
        relay=relay,
        public_url=public_url or f"http://127.0.0.1:{http_port}",
        data_dir=data_dir,
        max_attachment_bytes=max_attachment_bytes,
        manifest=manifest,
    )
    for attempt in range(30):  # the platform may still be starting
        try:
            log.info("package: %s", partner.ensure_package())
            break
        except CcpError as exc:
            if attempt == 29:
                raise
            log.info("waiting for the platform (%s)", exc.code)
            time.sleep(1)
    partner.start_cursor()
    threading.Thread(target=partner.follow_events, name="ccp-events", daemon=True).start()
    http = ThreadingHTTPServer(("127.0.0.1", http_port), make_handler(partner))
    http.daemon_threads = True
    smtp = Controller(SmtpHandler(partner), hostname="127.0.0.1", port=smtp_port, data_size_limit=max_message_bytes)
    smtp.start()
    return partner, http, smtp
