"""A load generator for the multi-process routing tests: one OS process, plain HTTP, no Django.

    python tests/routing/loadgen.py '<json config>'

`mode: "arrivals"` posts `count` interactions that each open a new conversation, spread over the
nodes' URLs. `mode: "agent"` logs an agent in and, until `seconds` have passed, accepts or declines
its offers, closes conversations it holds and flips its presence away and back. Both start at
`start_at` (a Unix time shared by every process, so the load begins at once) and print one JSON
line: the count of each HTTP status and the first few 5xx answers.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests


class Recorder:
    def __init__(self):
        self.statuses: Counter[int] = Counter()
        self.failures: list[dict] = []

    def record(self, method: str, url: str, response: requests.Response) -> requests.Response:
        self.statuses[response.status_code] += 1
        if response.status_code >= 500 and len(self.failures) < 5:
            self.failures.append(
                {"method": method, "url": url, "status": response.status_code, "body": response.text[:500]}
            )
        return response

    def result(self, **extra) -> dict:
        return {"statuses": {str(k): v for k, v in self.statuses.items()}, "failures": self.failures, **extra}


def wait_until(start_at: float) -> None:
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)


def arrivals(config: dict) -> dict:
    """`count` new conversations from `threads` threads of this process, round robin over the nodes."""
    recorder = Recorder()
    urls = config["urls"]
    headers = {"Authorization": f"Bearer {config['token']}"}
    local = threading.local()

    def post(i: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        url = f"{urls[i % len(urls)]}/api/v1/interactions/"
        body = {
            "to": config["channel"],
            "from": f"{config['prefix']}-{i}",
            "from_name": f"Caller {config['prefix']} {i}",
            "entries": [{"id": f"{config['prefix']}-{i}-m1", "type": "message", "text": "Hello, I need help"}],
        }
        response = local.session.post(url, json=body, headers=headers, timeout=60)
        with lock:
            recorder.record("POST", url, response)

    lock = threading.Lock()
    wait_until(config["start_at"])
    with ThreadPoolExecutor(max_workers=config.get("threads", 1)) as pool:
        list(pool.map(post, range(config["count"])))
    return recorder.result()


def login(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=30)
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=30,
        allow_redirects=False,
    )
    if response.status_code != 302:
        raise SystemExit(f"login of {username} failed: {response.status_code}")
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    return session


def agent(config: dict) -> dict:
    recorder = Recorder()
    rng = random.Random(config["seed"])
    urls = config["urls"]
    session = login(urls[0], config["username"], config["password"])
    wait_until(config["start_at"])
    deadline = time.time() + config["seconds"]
    accepted = declined = closed = flips = 0

    def call(method: str, path: str, **kwargs) -> requests.Response:
        url = f"{rng.choice(urls)}{path}"
        return recorder.record(method, url, session.request(method, url, timeout=60, **kwargs))

    while time.time() < deadline:
        state = call("GET", "/api/v1/agent/state/")
        if state.status_code != 200:
            time.sleep(0.1)
            continue
        body = state.json()
        for work in body["work"]:
            if work["status"] == "offered":
                if rng.random() < 0.75:
                    accepted += call("POST", f"/api/v1/agent/work/{work['work_id']}/accept/").status_code == 200
                else:
                    declined += (
                        call("POST", f"/api/v1/agent/work/{work['work_id']}/decline/", json={}).status_code == 200
                    )
            elif work["status"] == "acw":
                call("POST", f"/api/v1/agent/work/{work['work_id']}/acw/complete/")
        for conversation in body["conversations"]:
            if rng.random() < 0.5:
                closed += (
                    call("POST", f"/api/v1/agent/conversations/{conversation['id']}/close/", json={}).status_code == 200
                )
        if rng.random() < 0.15:
            call("PUT", "/api/v1/agent/status/", json={"status": "away"})
            call("PUT", "/api/v1/agent/status/", json={"status": "online"})
            flips += 1
        time.sleep(rng.uniform(0.0, 0.05))
    call("PUT", "/api/v1/agent/status/", json={"status": "online"})
    return recorder.result(accepted=accepted, declined=declined, closed=closed, flips=flips)


def main() -> None:
    config = json.loads(sys.argv[1])
    result = {"arrivals": arrivals, "agent": agent}[config["mode"]](config)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
