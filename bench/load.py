"""Load generators and observers; each runs in its own process (multiprocessing, spawn), on 127.0.0.1 only.

Every loop is bounded: senders by their plan or a deadline, listeners by a stop event and a deadline.
Clock: time.time() on the same machine, so send and receive stamps of different processes compare.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

CSRF = "benchbenchbenchbenchbenchbench01"  # 32 chars: Django accepts an unmasked secret as the header


def agent_headers(session_key: str) -> dict[str, str]:
    return {"Cookie": f"sessionid={session_key}; csrftoken={CSRF}", "X-CSRFToken": CSRF}


def _own_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _check_local(url: str) -> None:
    assert url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:")), url


def send_plan(base_url: str, plan: list[dict], start_at: float, threads: int, out, max_lag: float = 15.0) -> None:
    """Open loop: send each item of `plan` ({at, path, json, headers, token}) at start_at + at seconds.

    A sender that falls behind sends at once (and the lateness is in the figures, not hidden); an item
    more than `max_lag` s late is not sent at all (status -1, counted as "skipped"), which bounds a step.
    Puts [{token, sent, status, ms}] on `out`.
    """
    _check_local(base_url)
    local = threading.local()
    results: list[dict] = []
    lock = threading.Lock()

    def one(item: dict) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        delay = start_at + item["at"] - time.time()
        if delay > 0:
            time.sleep(delay)
        if -delay > max_lag:  # the server is that far behind: stop feeding it, count the item as not sent
            with lock:
                results.append({"token": item["token"], "sent": time.time(), "status": -1, "ms": 0.0})
            return
        sent = time.time()
        try:
            r = session.post(base_url + item["path"], json=item["json"], headers=item.get("headers"), timeout=30)
            status = r.status_code
        except requests.RequestException:
            status = 0
        done = time.time()
        with lock:
            results.append({"token": item["token"], "sent": sent, "status": status, "ms": (done - sent) * 1000})

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, plan))
    out.put((results, _own_cpu()))


def hammer(base_url: str, make: dict, start_at: float, seconds: float, threads: int, out) -> None:
    """Closed loop: `threads` clients POST as fast as answers come for `seconds` (or `limit` requests in all).

    `make` = {path, headers, json (a template: "{token}" and "{from}" in its strings), prefix, froms, limit}.
    Client i uses froms[i % len(froms)], so clients of one process need not share a conversation.
    """
    _check_local(base_url)
    template = json.dumps(make["json"])
    froms = make.get("froms") or [""]
    limit = make.get("limit", 0)
    results: list[dict] = []
    lock = threading.Lock()
    issued = [0]

    def client(index: int) -> None:
        session = requests.Session()
        n = 0
        while time.time() < start_at:
            time.sleep(0.005)
        end = start_at + seconds
        while time.time() < end:
            with lock:
                if limit and issued[0] >= limit:
                    return
                issued[0] += 1
            token = f"{make['prefix']}-{index}-{n}"
            n += 1
            body = json.loads(template.replace("{token}", token).replace("{from}", froms[index % len(froms)]))
            sent = time.time()
            try:
                r = session.post(base_url + make["path"], json=body, headers=make.get("headers"), timeout=30)
                status = r.status_code
            except requests.RequestException:
                status = 0
            done = time.time()
            with lock:
                results.append({"token": token, "sent": sent, "status": status, "ms": (done - sent) * 1000})

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=seconds + 60)
    out.put((results, _own_cpu()))


def ws_listen(ws_url: str, origin: str, sessions: list[str], ready, stop, deadline: float, out) -> None:
    """Open one agent websocket per session key; record (token, received, key) of message.created / work.offered.

    `key` identifies the delivered item ("m:<message id>" or "w:<work id>") so that a re-offer of the same
    conversation to another agent (a new work id) is not mistaken for a duplicate. With `accept_base` set
    (sessions given as "<session key>@<base url>"), every offer is accepted through the agent API at once,
    as an attentive agent would (unanswered offers time out and, ignored three times, set the agent away).
    Sets `ready` when every socket got its hello frame; runs until `stop` is set or `deadline` passes.
    Puts {"connected", "failed", "closed", "accepted", "frames": [[token, t, key], ...]} on `out`.
    """
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    _check_local(ws_url)
    asyncio.run(_ws_main(ws_url, origin, sessions, ready, stop, deadline, out))


async def _ws_main(ws_url, origin, sessions, ready, stop, deadline, out) -> None:
    from websockets.asyncio.client import connect

    frames: list[list] = []
    state = {"connected": 0, "failed": 0, "closed": 0, "accepted": 0, "accept_failed": 0}
    sockets = []
    pool = ThreadPoolExecutor(4)
    local = threading.local()

    def accept(key: str, base: str, work_id: str) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        try:
            r = session.post(f"{base}/api/v1/agent/work/{work_id}/accept/", headers=agent_headers(key), timeout=30)
            state["accepted" if r.status_code == 200 else "accept_failed"] += 1
        except requests.RequestException:
            state["accept_failed"] += 1

    async def open_one(spec: str):
        key = spec.partition("@")[0]
        for attempt in range(5):
            try:
                ws = await connect(
                    ws_url,
                    additional_headers={"Cookie": f"sessionid={key}"},
                    origin=origin,
                    open_timeout=30,
                    ping_interval=None,
                    max_queue=None,
                )
                hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert hello["type"] == "hello", hello
                state["connected"] += 1
                return ws
            except Exception:
                await asyncio.sleep(0.2 * (attempt + 1))
        state["failed"] += 1
        return None

    async def reader(spec: str, ws):
        key, _, base = spec.partition("@")
        try:
            async for raw in ws:
                now = time.time()
                frame = json.loads(raw)
                data = frame.get("data") or {}
                if frame["type"] == "message.created" and data.get("direction") == "inbound":
                    frames.append([data.get("text", ""), now, f"m:{data.get('id')}"])
                elif frame["type"] == "work.offered":
                    first = (data.get("attributes") or {}).get("first_message", "")
                    frames.append([first, now, f"w:{data.get('work_id')}"])
                    if base:
                        asyncio.get_running_loop().run_in_executor(pool, accept, key, base, data["work_id"])
        except Exception:
            state["closed"] += 1

    batch = 50  # connect in waves so the server's accept queue and login lookups keep up
    pairs = []
    for i in range(0, len(sessions), batch):
        specs = sessions[i : i + batch]
        opened = await asyncio.gather(*(open_one(k) for k in specs))
        pairs.extend((spec, ws) for spec, ws in zip(specs, opened, strict=True) if ws is not None)
    sockets.extend(ws for _, ws in pairs)
    tasks = [asyncio.create_task(reader(spec, ws)) for spec, ws in pairs]
    ready.set()
    while not stop.is_set() and time.time() < deadline:
        await asyncio.sleep(0.05)
    for ws in sockets:
        await ws.close()
    for t in tasks:
        t.cancel()
    pool.shutdown(wait=True, cancel_futures=False)
    out.put({**state, "frames": frames})


def ws_accept(ws_url: str, origin: str, base_url: str, sessions: dict, max_delay: float, ready, stop, deadline, out):
    """Routing agents: one websocket each; every work.offered is accepted through the agent API after a
    random 0..max_delay s pause. Puts {"offers": [[token, t, work_id]], "accepted", "refused", ...} on `out`."""
    _check_local(ws_url)
    _check_local(base_url)
    asyncio.run(_accept_main(ws_url, origin, base_url, sessions, max_delay, ready, stop, deadline, out))


async def _accept_main(ws_url, origin, base_url, sessions, max_delay, ready, stop, deadline, out) -> None:
    import random

    from websockets.asyncio.client import connect

    state = {"connected": 0, "failed": 0, "accepted": 0, "refused": 0, "closed": 0}
    offers: list[list] = []
    accept_ms: list[float] = []
    local = threading.local()
    pool = ThreadPoolExecutor(16)

    def accept(key: str, work_id: str) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        r = session.post(f"{base_url}/api/v1/agent/work/{work_id}/accept/", headers=agent_headers(key), timeout=30)
        return r.status_code

    async def agent(key: str):
        try:
            ws = await connect(
                ws_url,
                additional_headers={"Cookie": f"sessionid={key}"},
                origin=origin,
                open_timeout=30,
                ping_interval=None,
                max_queue=None,
            )
            await asyncio.wait_for(ws.recv(), 30)
        except Exception:
            state["failed"] += 1
            return None
        state["connected"] += 1
        return ws

    async def on_offer(key, work_id):
        await asyncio.sleep(random.uniform(0, max_delay))
        started = time.time()
        status = await asyncio.get_running_loop().run_in_executor(pool, accept, key, work_id)
        accept_ms.append((time.time() - started) * 1000)
        state["accepted" if status == 200 else "refused"] += 1

    pending = []

    async def reader(key, ws):
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "work.offered":
                    data = frame["data"]
                    offers.append(
                        [(data.get("attributes") or {}).get("first_message", ""), time.time(), data["work_id"]]
                    )
                    pending.append(asyncio.create_task(on_offer(key, data["work_id"])))
        except Exception:
            state["closed"] += 1

    keys = list(sessions.values())
    sockets = await asyncio.gather(*(agent(k) for k in keys))
    tasks = [asyncio.create_task(reader(k, ws)) for k, ws in zip(keys, sockets, strict=True) if ws is not None]
    ready.set()
    while not stop.is_set() and time.time() < deadline:
        await asyncio.sleep(0.05)
    if pending:
        await asyncio.wait(pending, timeout=30)
    for ws in sockets:
        if ws is not None:
            await ws.close()
    for t in tasks:
        t.cancel()
    pool.shutdown(wait=False)
    out.put({**state, "offers": offers, "accept_ms": accept_ms})


def webhook_receiver(secret_box, port_box, ready, stop, deadline: float, out) -> None:
    """A partner's webhook endpoint on 127.0.0.1 that verifies every signature with ccp_partner.

    `secret_box` is a Queue that delivers the subscription secret once it exists (after the port is known).
    Puts {"frames": [[token, t, event_id]], "bad_signature", "requests"} on `out`.
    """
    from ccp_partner.webhooks import InvalidSignature, verify_signature

    frames: list[list] = []
    state = {"bad_signature": 0, "requests": 0}
    lock = threading.Lock()
    secret: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            now = time.time()
            ok = True
            try:
                verify_signature(secret["value"], body, self.headers)
            except (InvalidSignature, KeyError):
                ok = False
            with lock:
                state["requests"] += 1
                if ok:
                    envelope = json.loads(body)
                    payload = (envelope.get("data") or {}).get("payload") or {}
                    frames.append([payload.get("text", ""), now, self.headers.get("CCP-Event-Id")])
                else:
                    state["bad_signature"] += 1
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_box.put(server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret["value"] = secret_box.get(timeout=120)
    ready.set()
    while not stop.is_set() and time.time() < deadline:
        time.sleep(0.05)
    server.shutdown()
    server.server_close()
    out.put({**state, "frames": frames})
