"""Profile the inbound hot path in-process with pyinstrument: `python bench/profile_ingest.py [-n 200]`.

Runs after bench/run.py (it uses the `ccp_bench` database that run.py seeded): obtains a partner
token, then POSTs -n interactions into existing conversations through Django's test client with the
real middleware, DRF, OAuth token lookup, ORM, PostgreSQL, on-commit websocket push (Redis channel
layer) and Celery enqueue (Redis broker; no worker runs, the queue is purged afterwards). Prints the
per-request wall time and pyinstrument's call tree (var/bench/profile.txt, profile.html).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import stack  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("-n", type=int, default=200)
    p.add_argument("--database", default="ccp_bench")
    p.add_argument("--out", default=str(ROOT / "var" / "bench"))
    args = p.parse_args(argv)
    demo = stack.setup_django(args.database)
    from django.test import Client
    from pyinstrument import Profiler

    client = Client(HTTP_HOST="127.0.0.1")
    auth = stack.partner_auth(client, demo)

    def post(i: int, sender: str) -> None:
        body = {"to": "acme-webchat-1", "from": sender, "entries": [{"id": f"prof-{time.time()}-{i}", "type": "message",
                                                                      "text": f"profile {i}"}]}  # fmt: skip
        r = client.post("/api/v1/interactions/", json.dumps(body), content_type="application/json", **auth)
        assert r.status_code == 201, r.content

    senders = [f"prof-{n}" for n in range(10)]
    for i in range(20):  # warm-up: the conversations exist, caches and connections are warm
        post(i, senders[i % 10])
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    profiler.start()
    for i in range(args.n):
        post(i, senders[i % 10])
    profiler.stop()
    elapsed = time.perf_counter() - started
    stack.purge_queue()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    (out / "profile.txt").write_text(text)
    (out / "profile.html").write_text(profiler.output_html())
    print(text)
    print(f"{args.n} interactions in {elapsed:.2f} s = {1000 * elapsed / args.n:.1f} ms each (profiler on)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
