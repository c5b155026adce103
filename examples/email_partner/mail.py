"""Reading and writing e-mail with the standard library only (`email`, policy=default).

`mail_parse` turns the raw bytes of a received message into what the partner posts to ccp: the
sender's address and name, the subject, the text and HTML parts, the attachments, and the headers
that thread it (Message-ID, In-Reply-To, References). `reply_compose` builds the answer an agent
wrote: From the support address, `Re: <subject>`, In-Reply-To and References so that the customer's
mail client files it under the same thread. Nothing here talks to the network.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser

MSGID = re.compile(r"<[^<>\s]+>")
RE_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|fwd?|wg)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


@dataclass
class Part:
    """An attachment as received: its name, media type and bytes."""

    name: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class ParsedMail:
    message_id: str  # with its angle brackets, as in headers
    from_address: str
    from_name: str
    to: list[str]
    subject: str
    text: str
    html: str
    date: object = None  # a timezone-aware datetime, when the Date header is readable
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    attachments: list[Part] = field(default_factory=list)
    auto_submitted: bool = False  # an auto-reply or a bounce: never answer it with a bounce

    @property
    def thread_ids(self) -> list[str]:
        """The ids this mail answers, nearest first: In-Reply-To, then References newest to oldest."""
        seen: list[str] = []
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            if mid not in seen:
                seen.append(mid)
        return seen


def _ids(value) -> list[str]:
    return MSGID.findall(str(value or ""))


def mail_parse(raw: bytes) -> ParsedMail:
    """Parse one received message (RFC 5322 bytes)."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    name, address = parseaddr(str(msg.get("From", "")))
    mids = _ids(msg.get("Message-ID"))
    # a message without a Message-ID still needs a stable one: the same bytes give the same id
    message_id = mids[0] if mids else f"<sha256-{hashlib.sha256(raw).hexdigest()[:40]}@email-partner.invalid>"
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    text = text_part.get_content() if text_part is not None else ""
    html = html_part.get_content() if html_part is not None else ""
    attachments = []
    for part in msg.iter_attachments():
        if part.get_content_maintype() == "multipart":
            continue
        data = part.get_payload(decode=True) or b""
        attachments.append(
            Part(name=_safe_name(part.get_filename() or ""), content_type=part.get_content_type(), data=data)
        )
    date = None
    if msg.get("Date"):
        try:
            date = parsedate_to_datetime(str(msg["Date"]))
            if date.tzinfo is None:
                date = None
        except (TypeError, ValueError):
            date = None
    auto = str(msg.get("Auto-Submitted", "no")).lower() != "no" or msg.get_content_type() == "multipart/report"
    return ParsedMail(
        message_id=message_id,
        from_address=address.strip().lower(),
        from_name=str(name or "").strip(),
        to=[a.lower() for _, a in getaddresses([str(v) for v in msg.get_all("To", []) + msg.get_all("Cc", [])]) if a],
        subject=" ".join(str(msg.get("Subject", "")).split()),
        text=text.replace("\r\n", "\n").strip(),
        html=html.strip(),
        date=date,
        in_reply_to=_ids(msg.get("In-Reply-To")),
        references=_ids(msg.get("References")),
        attachments=attachments,
        auto_submitted=auto or str(msg.get("Precedence", "")).lower() in ("bulk", "junk", "list"),
    )


def _safe_name(name: str) -> str:
    """A file name that is safe in a path and a URL: no directories, no control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[^\w.\- ]+", "_", name).strip(" .")
    return name[:120] or "attachment"


class _TextOf(HTMLParser):
    """Visible text of an HTML body (no scripts or styles), one line per block."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_text(html: str) -> str:
    """The plain-text fallback of a mail that has only an HTML part."""
    parser = _TextOf()
    parser.feed(html)
    lines = [" ".join(line.split()) for line in "".join(parser.out).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def reply_subject(subject: str) -> str:
    """`Re: <subject>`, without piling up `Re: Re:` (nor keeping a foreign `AW:`)."""
    bare = RE_PREFIX.sub("", subject or "").strip()
    return f"Re: {bare}" if bare else "Re: your message"


def reply_compose(
    *,
    message_id: str,
    from_address: str,
    from_name: str,
    to: str,
    subject: str,
    text: str,
    in_reply_to: str | None,
    references: list[str],
    date=None,
) -> EmailMessage:
    """The agent's answer as an e-mail that threads under the customer's message."""
    msg = EmailMessage(policy=policy.SMTP)
    local, _, domain = from_address.partition("@")
    msg["From"] = Address(display_name=from_name, username=local, domain=domain)
    msg["To"] = to
    msg["Subject"] = reply_subject(subject)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references[-20:])  # RFC 5322 lets us trim the middle of a long chain
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Auto-Submitted"] = "no"
    msg.set_content(text)
    return msg


def bounce_compose(*, from_address: str, to: str, original: ParsedMail, reasons: list[str], message_id: str):
    """A short notice to the sender that part of their mail was not accepted (RFC 3834: auto-replied)."""
    msg = EmailMessage(policy=policy.SMTP)
    local, _, domain = from_address.partition("@")
    msg["From"] = Address(display_name="Support (automatic notice)", username=local, domain=domain)
    msg["To"] = to
    msg["Subject"] = reply_subject(original.subject)
    msg["Message-ID"] = message_id
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["In-Reply-To"] = original.message_id
    msg["References"] = " ".join([*original.references[-19:], original.message_id])
    msg["Auto-Submitted"] = "auto-replied"
    body = "We received your message, but not all of it could be accepted:\n\n"
    body += "\n".join(f"  - {r}" for r in reasons)
    body += "\n\nYour message itself reached our support team. Please send large files as a link.\n"
    msg.set_content(body)
    return msg
