"""Run the example e-mail partner: `python examples/email_partner/main.py`.

Configuration from the environment (ccp_up sets it):
- CCP_URL: the platform (default http://127.0.0.1:8000);
- CCP_DEMO_JSON: the output of `manage.py ccp_demo --json` (its `partner` credentials and its `email`
  mailbox), or CCP_CLIENT_ID / CCP_CLIENT_SECRET and EMAIL_MAILBOXES ("support@x.example=channel-id,…");
- EMAIL_SMTP_PORT: the SMTP listener on 127.0.0.1 (default 2525);
- EMAIL_RELAY: host:port of the SMTP relay outbound mail goes to; unset, replies are written to
  var/email_partner/outbox/*.eml instead (a demo without a mail server);
- EMAIL_HTTP_PORT: where attachments are served (default 8003; the telephony partner has 8002); EMAIL_PUBLIC_URL if not 127.0.0.1;
- EMAIL_DATA_DIR: state and attachments (default var/email_partner);
- EMAIL_MAX_ATTACHMENT_BYTES (default 5 MiB), EMAIL_MAX_MESSAGE_BYTES (default 25 MiB, SMTP SIZE).
"""

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app import serve


def _mailboxes(demo: dict) -> dict[str, str]:
    configured = os.environ.get("EMAIL_MAILBOXES", "")
    if configured:
        return dict(item.split("=", 1) for item in configured.split(",") if "=" in item)
    return {demo["email"]["support_address"]: demo["email"]["channel_address_id"]}


def _relay() -> tuple[str, int] | None:
    value = os.environ.get("EMAIL_RELAY", "").strip()
    if not value:
        return None
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s email-partner %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO
    demo = json.loads(os.environ.get("CCP_DEMO_JSON") or "{}")
    root = Path(__file__).resolve().parents[2]
    smtp_port = int(os.environ.get("EMAIL_SMTP_PORT", "2525"))
    http_port = int(os.environ.get("EMAIL_HTTP_PORT", "8003"))
    partner, http, smtp = serve(
        platform_url=os.environ.get("CCP_URL", "http://127.0.0.1:8000"),
        client_id=os.environ.get("CCP_CLIENT_ID") or demo["partner"]["client_id"],
        client_secret=os.environ.get("CCP_CLIENT_SECRET") or demo["partner"]["client_secret"],
        mailboxes=_mailboxes(demo),
        smtp_port=smtp_port,
        relay=_relay(),
        http_port=http_port,
        public_url=os.environ.get("EMAIL_PUBLIC_URL") or None,
        data_dir=Path(os.environ.get("EMAIL_DATA_DIR") or root / "var" / "email_partner"),
        max_attachment_bytes=int(os.environ.get("EMAIL_MAX_ATTACHMENT_BYTES", str(5 * 1024 * 1024))),
        max_message_bytes=int(os.environ.get("EMAIL_MAX_MESSAGE_BYTES", str(25 * 1024 * 1024))),
    )

    def stop(*_):
        partner.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=http.serve_forever, name="http", daemon=True).start()
    log = logging.getLogger("email_partner")
    log.info("SMTP for %s on 127.0.0.1:%s", ", ".join(partner.mailboxes), smtp_port)
    log.info("email partner listening")
    partner.stopping.wait()
    smtp.stop()
    http.shutdown()


if __name__ == "__main__":
    main()
