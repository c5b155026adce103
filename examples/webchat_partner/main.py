"""Run the example web-chat partner: `python examples/webchat_partner/main.py`.

Configuration from the environment (ccp_up sets it): CCP_URL, and either CCP_DEMO_JSON (the output
of `manage.py ccp_demo --json`) or CCP_CLIENT_ID / CCP_CLIENT_SECRET / CCP_CHANNEL; PARTNER_HOST,
PARTNER_PORT (default 127.0.0.1:8001).
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


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s partner %(message)s")
    demo = json.loads(os.environ.get("CCP_DEMO_JSON") or "{}")
    host = os.environ.get("PARTNER_HOST", "127.0.0.1")
    port = int(os.environ.get("PARTNER_PORT", "8001"))
    partner, server = serve(
        platform_url=os.environ.get("CCP_URL", "http://127.0.0.1:8000"),
        client_id=os.environ.get("CCP_CLIENT_ID") or demo["partner"]["client_id"],
        client_secret=os.environ.get("CCP_CLIENT_SECRET") or demo["partner"]["client_secret"],
        channel_address_id=os.environ.get("CCP_CHANNEL") or demo["channel_address_id"],
        host=host,
        port=port,
        state_file=Path(
            os.environ.get("PARTNER_STATE", Path(__file__).resolve().parents[2] / "var" / "webchat_partner.json")
        ),
    )

    def stop(*_):
        partner.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    logging.getLogger("webchat_partner").info("end-user web chat on http://%s:%s/", host, port)
    partner.stopping.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
