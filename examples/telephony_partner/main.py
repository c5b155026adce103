"""Run the example telephony partner: `python examples/telephony_partner/main.py`.

Configuration from the environment (ccp_up sets it): CCP_URL, and either CCP_DEMO_JSON (the output
of `manage.py ccp_demo --json`: its `voice_partner` credentials and `voice_channel_address_id`) or
CCP_CLIENT_ID / CCP_CLIENT_SECRET / CCP_CHANNEL; PHONE_HOST, PHONE_PORT (default 127.0.0.1:8002).
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
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s phone %(message)s")
    demo = json.loads(os.environ.get("CCP_DEMO_JSON") or "{}")
    credentials = demo.get("voice_partner") or demo.get("partner") or {}
    host = os.environ.get("PHONE_HOST", "127.0.0.1")
    port = int(os.environ.get("PHONE_PORT", "8002"))
    partner, server = serve(
        platform_url=os.environ.get("CCP_URL", "http://127.0.0.1:8000"),
        client_id=os.environ.get("CCP_CLIENT_ID") or credentials["client_id"],
        client_secret=os.environ.get("CCP_CLIENT_SECRET") or credentials["client_secret"],
        channel_address_id=os.environ.get("CCP_CHANNEL") or demo["voice_channel_address_id"],
        host=host,
        port=port,
    )

    def stop(*_):
        partner.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    logging.getLogger("telephony_partner").info("end-user phone on http://%s:%s/", host, port)
    partner.stopping.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
