"""ccp benchmark suite: `make bench` or `python bench/run.py [--quick] [options]` (docs/performance.md).

Runs the real stack — PostgreSQL (a dedicated database `ccp_bench`, recreated, migrated and seeded
with ccp_demo and extra agents), Redis db 6, a Celery worker, daphne and gunicorn as subprocesses
on free loopback ports — and drives it from separate processes on 127.0.0.1. Prints a table,
writes var/bench/results.json and var/bench/results.png. Every loop is bounded.

Sizes: flags, or the same names as environment variables BENCH_<FLAG> (e.g. BENCH_RATES=25,50).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import load, stack  # noqa: E402
from bench.report import percentiles, render  # noqa: E402

CTX = mp.get_context("spawn")
CHANNEL = "acme-webchat-1"


def parse_args(argv=None) -> argparse.Namespace:
    def env(name, default):
        return os.environ.get(f"BENCH_{name.upper()}", default)

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", default=env("quick", "") in {"1", "true", "yes"})
    p.add_argument("--scenarios", default=env("scenarios", "baseline,ingest,reply,routing,connections"))
    p.add_argument(
        "--topologies",
        default=env("topologies", "node,daphne"),
        help="node: gunicorn + daphne + Celery forked from one loaded process (ccp_serve's default); "
        "split: the same as separate programs (ccp_serve --no-fork); daphne: daphne alone",
    )
    p.add_argument("--rates", default=env("rates", "25,50,100"), help="ingest msg/s steps")
    p.add_argument("--reply-rates", default=env("reply_rates", "25,50"))
    p.add_argument("--step-seconds", type=float, default=float(env("step_seconds", 10)))
    p.add_argument("--saturate-seconds", type=float, default=float(env("saturate_seconds", 6)))
    p.add_argument("--routing-conversations", type=int, default=int(env("routing_conversations", 1000)))
    p.add_argument("--routing-agents", type=int, default=int(env("routing_agents", 100)))
    p.add_argument("--routing-capacity", type=int, default=int(env("routing_capacity", 12)))
    p.add_argument("--idle-sockets", type=int, default=int(env("idle_sockets", 1000)))
    p.add_argument("--active-sockets", type=int, default=int(env("active_sockets", 100)))
    p.add_argument("--database", default=env("database", "ccp_bench"))
    p.add_argument(
        "--pgbouncer",
        action="store_true",
        default=env("pgbouncer", "") in {"1", "true", "yes"},
        help="servers and workers connect through a PgBouncer in transaction pooling mode (docs/deployment.md)",
    )
    p.add_argument(
        "--pgbouncer-pool-size",
        type=int,
        default=int(env("pgbouncer_pool_size", 20)),
        help="PgBouncer's server connections to the bench database",
    )
    p.add_argument("--rest-workers", type=int, default=int(env("rest_workers", 2)), help="gunicorn workers (split)")
    p.add_argument("--rest-threads", type=int, default=int(env("rest_threads", 1)), help="threads per gunicorn worker")
    p.add_argument("--celery-concurrency", type=int, default=int(env("celery_concurrency", 4)))
    p.add_argument("--server-env", default=env("server_env", ""), help="K=V,K=V for every server process")
    p.add_argument("--out", default=env("out", str(ROOT / "var" / "bench")))
    args = p.parse_args(argv)
    if args.quick:
        quick = {
            "rates": "20,40",
            "reply_rates": "20",
            "step_seconds": 4.0,
            "saturate_seconds": 3.0,
            "routing_conversations": 100,
            "routing_agents": 20,
            "routing_capacity": 10,
            "idle_sockets": 100,
            "active_sockets": 20,
            "topologies": "node",
        }
        for key, value in quick.items():
            given = any(a.startswith("--" + key.replace("_", "-")) for a in (argv or sys.argv[1:]))
            if not given and f"BENCH_{key.upper()}" not in os.environ:
                setattr(args, key, value)
    stack.SERVER_ENV.update(kv.split("=", 1) for kv in args.server_env.split(",") if "=" in kv)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.topologies = [t for t in args.topologies.split(",") if t]
    args.rates = [float(r) for r in str(args.rates).split(",") if r]
    args.reply_rates = [float(r) for r in str(args.reply_rates).split(",") if r]
    return args


# --- seeding (in this process, through ccp's services and ORM) ----------------------------------------


def setup_django(database: str) -> None:
    os.environ.update(stack.server_env(database))
    os.environ["DJANGO_SETTINGS_MODULE"] = "ccp.settings"
    import django

    django.setup()


def make_agents(prefix: str, count: int, capacity: int) -> dict[str, str]:
    """`count` agents of tenant acme (offline, messaging capacity `capacity`); returns {membership id: session key}."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    from routing import services as routing_services
    from tenants.choices import Role
    from tenants.models import Membership, Tenant

    tenant = Tenant.objects.get(slug="acme")
    User = get_user_model()
    sessions = {}
    with transaction.atomic():
        for i in range(count):
            user = User.objects.create(username=f"{prefix}{i:04d}", password="!")  # no login: sessions below
            membership = Membership.objects.create(
                user=user, tenant=tenant, role=Role.AGENT, display_name=f"Bench {prefix}{i}"
            )
            routing_services.capacity_set(membership=membership, capacity={"messaging": capacity})
            store = SessionStore()  # what Client.force_login does: a real session row for this user
            store[SESSION_KEY] = str(user.pk)
            store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            store[HASH_SESSION_KEY] = user.get_session_auth_hash()
            store.create()
            sessions[str(membership.pk)] = store.session_key
    return sessions


def set_presence(agent_ids, status: str) -> None:
    from routing import services as routing_services
    from tenants.models import Membership

    for membership in Membership.objects.filter(pk__in=list(agent_ids)):
        routing_services.presence_set(membership=membership, status=status)


# --- running processes ---------------------------------------------------------------------------------


GENERATOR_CPU = {"last": 0.0}  # CPU seconds of the load generators of the last run_senders call


def run_senders(target, jobs: list[tuple], timeout: float) -> list[dict]:
    GENERATOR_CPU["last"] = 0.0
    out = CTX.Queue()
    procs = [CTX.Process(target=target, args=(*job, out), daemon=True) for job in jobs]
    for p in procs:
        p.start()
    results: list[dict] = []
    deadline = time.monotonic() + timeout
    pending = len(procs)
    while pending:
        try:
            part, cpu = out.get(timeout=1)
            results.extend(part)
            GENERATOR_CPU["last"] += cpu
            pending -= 1
        except queue.Empty:
            if time.monotonic() > deadline:
                raise RuntimeError("load generator timed out") from None
            if all(p.exitcode not in (None, 0) for p in procs if not p.is_alive()) and not any(
                p.is_alive() for p in procs
            ):
                raise RuntimeError("load generator died") from None
    for p in procs:
        p.join(timeout=10)
    return results


class Listener:
    """A websocket (or webhook) observer process: start(), wait for ready, later finish() -> its result."""

    def __init__(self, target, *args, deadline: float = 600):
        self.ready, self.stop, self.out = CTX.Event(), CTX.Event(), CTX.Queue()
        self.process = CTX.Process(
            target=target, args=(*args, self.ready, self.stop, time.time() + deadline, self.out), daemon=True
        )

    def start(self, wait: float = 120) -> Listener:
        self.process.start()
        if not self.ready.wait(wait):
            raise RuntimeError("listener not ready")
        return self

    def finish(self, timeout: float = 60) -> dict:
        self.stop.set()
        result = self.out.get(timeout=timeout)
        self.process.join(timeout=10)
        return result


def server_cpu_ms(processes: dict, items: int) -> float | None:
    """CPU of the ccp server processes (REST, websocket, Celery) per item, in ms."""
    cpu = sum(m["cpu_s"] for name, m in processes.items() if name in {"gunicorn", "daphne", "celery", "node"})
    return round(1000 * cpu / items, 1) if items else None


def interaction(sender: str, token: str) -> dict:
    """A partner's POST /api/v1/interactions/ body: one message whose entry id and text are `token`."""
    return {"to": CHANNEL, "from": sender, "entries": [{"id": token, "type": "message", "text": token}]}


def split_round_robin(items: list, n: int) -> list[list]:
    return [items[i::n] for i in range(n)]


def match(sends: list[dict], frames: list[list]) -> dict:
    """Latency from each accepted send to its first receipt; lost = accepted and never received."""
    first: dict[str, float] = {}
    seen: dict[tuple, int] = {}  # (token, delivered item): the same message or offer received twice
    for frame in frames:
        token, t = frame[0], frame[1]
        item = (token, frame[2] if len(frame) > 2 else None)
        seen[item] = seen.get(item, 0) + 1
        if token not in first or t < first[token]:
            first[token] = t
    count: dict[str, int] = {}
    for (token, _), n in seen.items():
        count[token] = max(count.get(token, 0), n)
    ok = [s for s in sends if 200 <= s["status"] < 300]
    skipped = sum(1 for s in sends if s["status"] == -1)
    latencies = [(first[s["token"]] - s["sent"]) * 1000 for s in ok if s["token"] in first]
    return {
        "sent": len(sends),
        "accepted": len(ok),
        "errors": len(sends) - len(ok) - skipped,
        "skipped": skipped,
        "delivered": len(latencies),
        "lost": len(ok) - len(latencies),
        "duplicated": sum(count[s["token"]] - 1 for s in ok if count.get(s["token"], 0) > 1),
        "latency_ms": percentiles(latencies),
        "http_ms": percentiles([s["ms"] for s in ok]),
    }


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


# --- the run ---------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.run_id = datetime.now(UTC).strftime("%H%M%S")
        self.results: dict = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "loadavg_start": stack.loadavg()},
            "args": {k: v for k, v in vars(args).items()},
            "baseline": {},
            "topologies": {},
        }

    # seeding -----------------------------------------------------------------------------------------
    def prepare(self) -> None:
        a = self.args
        print(f"preparing database {a.database} (recreate, migrate, ccp_demo) …", flush=True)
        stack.recreate_database(a.database)
        stack.manage(a.database, "migrate", "--no-input", "-v", "0")
        self.demo = json.loads(stack.manage(a.database, "ccp_demo", "--json").strip().splitlines()[-1])
        stack.purge_queue()
        setup_django(a.database)
        from django.db import connection

        from bench.baseline_app.sql import CREATE_SQL

        with connection.cursor() as c:
            c.execute(CREATE_SQL)
            c.execute(
                "CREATE TABLE bench_pg_message (id bigserial PRIMARY KEY, conversation_id int NOT NULL,"
                " seq int NOT NULL,"
                " direction text NOT NULL, text text NOT NULL, partner_entry_id text UNIQUE, created_at timestamptz)"
            )
            c.execute("CREATE INDEX ON bench_pg_message (conversation_id, seq)")
            c.execute(
                "CREATE TABLE bench_pg_event (id bigserial PRIMARY KEY, type text NOT NULL, tenant_id int NOT NULL,"
                " data jsonb NOT NULL, agent_ids jsonb NOT NULL, created_at timestamptz NOT NULL)"
            )
            c.execute("CREATE INDEX ON bench_pg_event (created_at)")
        self.routing_agents = make_agents("br", a.routing_agents, a.routing_capacity)
        idle_agents = max(1, a.idle_sockets // 10)
        self.idle_agents = make_agents("bc", idle_agents, 1)
        connection.close()

    def token(self) -> str:
        import requests

        r = requests.post(
            f"{self.rest.url}/o/token/",
            data={"grant_type": "client_credentials"},
            auth=(self.demo["partner"]["client_id"], self.demo["partner"]["client_secret"]),
            timeout=30,
        )
        r.raise_for_status()
        return r.json()["access_token"]

    # pgbench ---------------------------------------------------------------------------------------------
    def pgbench(self) -> None:
        seconds = 3 if self.args.quick else 5
        out = {}
        for clients in (1, 8):
            r = subprocess.run(
                ["pgbench", "-n", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds), "-f",
                 str(ROOT / "bench" / "pgbench_message_outbox.sql"), f"{stack.PG}/{self.args.database}"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            tps = next(line for line in r.stdout.splitlines() if line.startswith("tps"))
            latency = next((line for line in r.stdout.splitlines() if line.startswith("latency average")), "")
            out[f"c{clients}"] = {
                "tps": round(float(tps.split("=")[1].split()[0]), 1),
                "latency_avg_ms": float(latency.split("=")[1].split()[0]) if latency else None,
            }
        self.results["baseline"]["pgbench_message_outbox"] = {**out, "loadavg": stack.loadavg()}
        print(f"pgbench message+outbox: {out}", flush=True)

    # servers ----------------------------------------------------------------------------------------------
    def start_topology(self, name: str) -> list[stack.Server]:
        db = self.args.database
        stack.purge_queue()
        if name == "node":  # ccp_serve's default: the three forked from one loaded process (ccp.serving.node)
            a = self.args
            self.node, servers = stack.node(
                db, workers=a.rest_workers, threads=a.rest_threads, concurrency=a.celery_concurrency
            )
            self.rest, self.ws, self.celery = servers[:3]
            time.sleep(1.5)  # Celery connects
            return servers
        self.celery = stack.celery_worker(db, concurrency=self.args.celery_concurrency).start()
        self.ws = stack.daphne(db).start()
        if name == "split":
            self.rest = stack.gunicorn(db, workers=self.args.rest_workers, threads=self.args.rest_threads).start()
            servers = [self.rest, self.ws, self.celery]
        else:
            self.rest = self.ws
            servers = [self.ws, self.celery]
        time.sleep(1.5)  # imports settle, Celery connects
        return servers

    def stop_servers(self, servers) -> None:
        for s in servers:
            s.stop()
        if getattr(self, "node", None) is not None:  # its roles stop with it
            self.node.stop()
            self.node = None

    def ws_url(self) -> tuple[str, str]:
        return f"ws://127.0.0.1:{self.ws.port}/ws/agent/", f"http://127.0.0.1:{self.ws.port}"

    # baseline --------------------------------------------------------------------------------------------
    def baseline(self, topology: str) -> dict:
        import requests

        db = self.args.database
        env = {"DJANGO_SETTINGS_MODULE": "bench.baseline_app.settings"}
        if topology in ("split", "node"):
            a = self.args
            server = stack.gunicorn(
                db, "bench.baseline_app.wsgi:application", "baseline", a.rest_workers, a.rest_threads, **env
            )
        else:
            server = stack.daphne(db, app="bench.baseline_app.asgi:application", name="baseline", **env)
        server.start()
        try:
            warm = requests.Session()
            for i in range(20):  # both workers, first queries, connection setup
                warm.post(f"{server.url}/bench/insert/", json={"text": "warm-up", "n": i}, timeout=30)
            meter = stack.Meter([server]).start()
            seconds = self.args.saturate_seconds
            make = {"path": "/bench/insert/", "json": {"text": "{token}", "n": 1}, "prefix": "base"}
            start = time.time() + 1.5
            sends = run_senders(load.hammer, [(server.url, make, start, seconds, 4)] * 2, timeout=seconds + 90)
            metrics = {**meter.stop(), "load_generators": {"cpu_s": round(GENERATOR_CPU["last"], 2)}}
        finally:
            server.stop()
        ok = [s for s in sends if s["status"] == 201]
        result = {
            "server": server.name,
            "requests": len(sends),
            "errors": len(sends) - len(ok),
            "throughput_rps": round(len(ok) / seconds, 1),
            "http_ms": percentiles([s["ms"] for s in ok]),
            "processes": metrics,
            "loadavg": stack.loadavg(),
        }
        print(f"[{topology}] baseline DRF insert: {result['throughput_rps']} req/s", flush=True)
        return result

    # ingest ------------------------------------------------------------------------------------------------
    def hold_conversations(self, agents: dict[str, str], per_agent: int, prefix: str) -> dict[str, tuple]:
        """Open conversations through the partner API and have `agents` accept them through the agent API.
        Returns {end-user address: (conversation id, agent id)}."""
        import requests
        from django.db import connection

        from conversations.models import Participant
        from routing.models import AgentWork

        set_presence(agents, "online")
        headers = {"Authorization": f"Bearer {self.partner_token}"}
        session = requests.Session()
        addresses = [f"{prefix}-{i}" for i in range(per_agent * len(agents))]
        for address in addresses:
            r = session.post(
                f"{self.rest.url}/api/v1/interactions/",
                json={"to": CHANNEL, "from": address, "entries": [{"id": f"{address}-open", "type": "message",
                                                                    "text": "hello"}]},
                headers=headers, timeout=30,
            )  # fmt: skip
            r.raise_for_status()
        offers = list(
            AgentWork.objects.filter(agent_id__in=list(agents), status="offered").values_list("pk", "agent_id")
        )
        for work_id, agent_id in offers:
            r = session.post(
                f"{self.rest.url}/api/v1/agent/work/{work_id}/accept/",
                headers=load.agent_headers(agents[str(agent_id)]),
                timeout=30,
            )
            if r.status_code != 409:  # 409: an offer of an earlier scenario that expired meanwhile
                r.raise_for_status()
        held = {
            p.conversation.end_user_address: (str(p.conversation_id), str(p.agent_id))
            for p in Participant.objects.filter(agent_id__in=list(agents), left_at__isnull=True).select_related(
                "conversation"
            )
            if p.conversation.end_user_address.startswith(prefix)
        }
        connection.close()
        return held

    def close_unanswered(self, prefix: str, *, keep_held: bool = False) -> None:
        """Close (partner API) the conversations a scenario opened and nobody accepted, so that their offers
        do not time out and re-route in the background of the next scenarios. `keep_held`: leave the ones
        an agent holds open (the connections scenario sends to them)."""
        import requests
        from django.db import connection

        from conversations.models import Conversation

        open_ = Conversation.objects.filter(end_user_address__startswith=prefix).exclude(status="closed")
        if keep_held:
            open_ = open_.exclude(participants__left_at__isnull=True)
        ids = [str(pk) for pk in open_.values_list("pk", flat=True)]
        connection.close()
        headers = {"Authorization": f"Bearer {self.partner_token}"}

        def close(conversation_id: str) -> int:
            url = f"{self.rest.url}/api/v1/conversations/{conversation_id}/close/"
            return requests.post(url, headers=headers, timeout=30).status_code

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(close, ids))

    def ingest(self, topology: str, servers) -> dict:
        a = self.args
        self.ingest_agents = make_agents(f"bi{topology[0]}", 10, 50)  # fresh capacity per topology
        held = self.hold_conversations(self.ingest_agents, 5, f"bi-{topology}")
        self.held = held
        ws_url, origin = self.ws_url()
        specs = [f"{key}@{self.rest.url}" for key in self.ingest_agents.values()]  # they accept new offers
        listener = Listener(load.ws_listen, ws_url, origin, specs).start()
        steps = []
        addresses = list(held)
        headers = {"Authorization": f"Bearer {self.partner_token}"}
        try:
            rates = a.rates if topology == a.topologies[0] else [r for r in a.rates if r <= 50] or a.rates[:1]
            for rate in rates:
                n = int(rate * a.step_seconds)
                plan = []
                for i in range(n):
                    token = f"in-{topology}-{int(rate)}-{i}-{self.run_id}"
                    new = i % 10 == 9  # one in ten opens a new conversation (routing → work.offered)
                    sender = f"new-{token}" if new else addresses[i % len(addresses)]
                    plan.append({
                        "at": i / rate, "path": "/api/v1/interactions/", "headers": headers, "token": token,
                        "json": {"to": CHANNEL, "from": sender, "entries": [{"id": token, "type": "message",
                                                                              "text": token}]},
                    })  # fmt: skip
                meter = stack.Meter(servers).start()
                start = time.time() + 1
                sends = run_senders(
                    load.send_plan,
                    [(self.rest.url, part, start, 16) for part in split_round_robin(plan, 2)],
                    timeout=a.step_seconds + 120,
                )
                metrics = {**meter.stop(), "load_generators": {"cpu_s": round(GENERATOR_CPU["last"], 2)}}
                steps.append({"rate": rate, "sends": sends, "processes": metrics, "loadavg": stack.loadavg()})
                print(f"[{topology}] ingest {rate:g} msg/s sent", flush=True)
            # saturation: closed loop on existing conversations
            make = {
                "path": "/api/v1/interactions/", "headers": headers, "prefix": f"sat-{topology}-{self.run_id}",
                "json": {"to": CHANNEL, "from": "{from}", "entries": [{"id": "{token}", "type": "message",
                                                                       "text": "{token}"}]},
            }  # fmt: skip
            meter = stack.Meter(servers).start()
            start = time.time() + 1
            jobs = []
            for part in range(2):
                jobs.append((self.rest.url, {**make, "froms": addresses[part::2], "prefix": f"{make['prefix']}-{part}"},
                             start, a.saturate_seconds, 4))  # fmt: skip
            sat = run_senders(load.hammer, jobs, timeout=a.saturate_seconds + 120)
            sat_metrics = {**meter.stop(), "load_generators": {"cpu_s": round(GENERATOR_CPU["last"], 2)}}
            time.sleep(3)  # let the last pushes land
        finally:
            ws = listener.finish()
            self.close_unanswered(f"new-in-{topology}-")
        out = {"steps": [], "ws": {k: v for k, v in ws.items() if k != "frames"}}
        for step in steps:
            matched = match(step["sends"], ws["frames"])
            new = [s for s in step["sends"] if s["token"].split("-")[3] and int(s["token"].split("-")[3]) % 10 == 9]
            existing = [s for s in step["sends"] if s not in new]
            out["steps"].append({
                "rate": step["rate"], **matched,
                "existing_latency_ms": match(existing, ws["frames"])["latency_ms"],
                "new_conversation_offer_ms": match(new, ws["frames"])["latency_ms"],
                "achieved_rps": round(matched["accepted"] / a.step_seconds, 1),
                "server_cpu_ms_per_msg": server_cpu_ms(step["processes"], matched["accepted"]),
                "processes": step["processes"], "loadavg": step["loadavg"],
            })  # fmt: skip
        sat_matched = match(sat, ws["frames"])
        out["saturation"] = {
            **sat_matched,
            "throughput_rps": round(sat_matched["accepted"] / a.saturate_seconds, 1),
            "server_cpu_ms_per_msg": server_cpu_ms(sat_metrics, sat_matched["accepted"]),
            "processes": sat_metrics,
            "loadavg": stack.loadavg(),
        }
        ok_rates = [s["rate"] for s in out["steps"] if s["latency_ms"]["p99"] is not None
                    and s["latency_ms"]["p99"] <= 100 and s["lost"] == 0]  # fmt: skip
        out["max_sustained_rate_p99_under_100ms"] = max(ok_rates) if ok_rates else 0
        return out

    # reply ---------------------------------------------------------------------------------------------------
    def reply(self, topology: str, servers) -> dict:
        import requests

        a = self.args
        secret_box, port_box = CTX.Queue(), CTX.Queue()
        receiver = Listener(load.webhook_receiver, secret_box, port_box)
        receiver.process.start()
        port = port_box.get(timeout=60)
        r = requests.post(
            f"{self.rest.url}/api/v1/subscriptions/",
            json={"url": f"http://127.0.0.1:{port}/hooks", "event_types": ["WebChatOutbound__e"]},
            headers={"Authorization": f"Bearer {self.partner_token}"},
            timeout=30,
        )
        r.raise_for_status()
        subscription = r.json()
        secret_box.put(subscription["secret"])
        if not receiver.ready.wait(60):
            raise RuntimeError("webhook receiver not ready")
        steps = []
        held = list(self.held.values())
        try:
            for rate in a.reply_rates:
                n = int(rate * a.step_seconds)
                plan = []
                for i in range(n):
                    conversation_id, agent_id = held[i % len(held)]
                    token = f"re-{topology}-{int(rate)}-{i}-{self.run_id}"
                    plan.append({
                        "at": i / rate, "path": f"/api/v1/agent/conversations/{conversation_id}/messages/",
                        "headers": load.agent_headers(self.ingest_agents[agent_id]), "token": token,
                        "json": {"text": token},
                    })  # fmt: skip
                meter = stack.Meter(servers).start()
                start = time.time() + 1
                sends = run_senders(
                    load.send_plan,
                    [(self.rest.url, part, start, 16) for part in split_round_robin(plan, 2)],
                    timeout=a.step_seconds + 120,
                )
                tokens = {s["token"] for s in sends if 200 <= s["status"] < 300}
                metrics = {**meter.stop(), "load_generators": {"cpu_s": round(GENERATOR_CPU["last"], 2)}}
                steps.append({"rate": rate, "sends": sends, "processes": metrics, "loadavg": stack.loadavg(),
                              "tokens": tokens})  # fmt: skip
                print(f"[{topology}] reply {rate:g} msg/s sent", flush=True)
            time.sleep(5)  # deliveries still in flight
        finally:
            hooks = receiver.finish()
            requests.delete(
                f"{self.rest.url}/api/v1/subscriptions/{subscription['id']}/",
                headers={"Authorization": f"Bearer {self.partner_token}"},
                timeout=30,
            )
        out = {"steps": [], "receiver": {"requests": hooks["requests"], "bad_signature": hooks["bad_signature"]}}
        for step in steps:
            matched = match(step["sends"], hooks["frames"])
            ids = [f[2] for f in hooks["frames"] if f[0] in step["tokens"]]
            matched["redelivered_event_ids"] = len(ids) - len(set(ids))
            out["steps"].append({"rate": step["rate"], **matched, "processes": step["processes"],
                                 "server_cpu_ms_per_msg": server_cpu_ms(step["processes"], matched["accepted"]),
                                 "loadavg": step["loadavg"]})  # fmt: skip
        return out

    # routing --------------------------------------------------------------------------------------------------
    def routing(self, topology: str, servers) -> dict:
        import requests
        from django.db import connection
        from django.db.models import Count, Q

        from routing.choices import HOLDING_STATUSES
        from routing.models import AgentPresence, AgentWork, RouteDecision, WorkItem

        a = self.args
        set_presence(self.ingest_agents, "away")  # only the routing agents take work now
        agents = self.routing_agents
        ws_url, origin = self.ws_url()
        acceptor = Listener(load.ws_accept, ws_url, origin, self.rest.url, agents, 0.2).start()
        headers = {"Authorization": f"Bearer {self.partner_token}"}
        requests.Session()

        def presence_all(status: str) -> float:
            started = time.time()

            def put(key):
                s = requests.Session()
                return s.put(f"{self.rest.url}/api/v1/agent/status/", json={"status": status},
                             headers=load.agent_headers(key), timeout=60).status_code  # fmt: skip

            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(put, agents.values()))
            assert all(c == 200 for c in codes), codes
            return started

        try:
            # live: agents online with free capacity, conversations arrive at a steady rate
            presence_all("online")
            live_rate, live_n = (10.0, 20) if a.quick else (20.0, 100)
            plan = []
            for i in range(live_n):
                token = f"rl-{topology}-{i}-{self.run_id}"
                plan.append({"at": i / live_rate, "path": "/api/v1/interactions/", "headers": headers,
                             "token": token, "json": interaction(f"rl-{token}", token)})  # fmt: skip
            t_live = datetime.now(UTC)
            live_sends = run_senders(load.send_plan, [(self.rest.url, plan, time.time() + 1, 8)], timeout=120)
            wait_until(lambda: WorkItem.objects.filter(created_at__gte=t_live, works__isnull=False).distinct().count()
                       >= live_n, 30)  # fmt: skip
            live_pairs = list(
                AgentWork.objects.filter(work_item__created_at__gte=t_live).values_list(
                    "offered_at", "work_item__enqueued_at"
                )
            )
            enqueue_to_offer = [(o - e).total_seconds() * 1000 for o, e in live_pairs]
            # backlog: everyone away, conversations queue up, then everyone comes online at once
            presence_all("away")
            t_backlog = datetime.now(UTC)
            make = {
                "path": "/api/v1/interactions/", "headers": headers, "prefix": f"rb-{topology}-{self.run_id}",
                "json": {"to": CHANNEL, "from": "q-{token}", "entries": [{"id": "{token}", "type": "message",
                                                                         "text": "{token}"}]},
            }  # fmt: skip
            jobs = [
                (self.rest.url, {**make, "prefix": f"{make['prefix']}-{p}"}, time.time() + 1, 300, 8) for p in range(2)
            ]
            backlog = self._bounded_hammer(jobs, a.routing_conversations)
            queued = WorkItem.objects.filter(created_at__gte=t_backlog, status="queued").count()
            meter = stack.Meter(servers).start()
            t_online = presence_all("online")
            t0 = datetime.fromtimestamp(t_online, UTC)
            target = min(queued, a.routing_agents * a.routing_capacity - live_n)
            wait_until(
                lambda: AgentWork.objects.filter(work_item__created_at__gte=t_backlog).count() >= target, 120, 0.2
            )
            metrics = meter.stop()
            decisions = list(
                RouteDecision.objects.filter(created_at__gte=t0, outcome="offered").values_list(
                    "created_at", "latency_ms"
                )
            )
            last = max((d[0] for d in decisions), default=t0)
            drain_s = (last - t0).total_seconds()
            wait_until(lambda: False, 2 if a.quick else 3)  # accepts in flight
            caps = dict(
                AgentPresence.objects.filter(membership_id__in=list(agents)).values_list("membership_id", "capacity")
            )
            loads = (
                AgentWork.objects.filter(agent_id__in=list(agents))
                .values("agent_id")
                .annotate(n=Count("pk", filter=Q(status__in=HOLDING_STATUSES)))
            )
            over = sum(1 for row in loads if row["n"] > (caps[row["agent_id"]] or {}).get("messaging", 0))
            double = (
                AgentWork.objects.filter(status__in=["offered", "accepted"], work_item__created_at__gte=t_live)
                .values("work_item_id").annotate(n=Count("pk")).filter(n__gt=1).count()
            )  # fmt: skip
        finally:
            accepted = acceptor.finish()
            set_presence(agents, "away")  # later scenarios must not route to agents nobody listens for
            connection.close()
            # ...nor inherit this scenario's unanswered backlog: the next topology's fresh agents would
            # be offered these old items first (they are older) instead of their own conversations.
            self.close_unanswered("rl-", keep_held=True)
            self.close_unanswered("q-", keep_held=True)
        live = match(live_sends, accepted["offers"])
        return {
            "agents": a.routing_agents,
            "capacity_each": a.routing_capacity,
            "live": {"rate": live_rate, "conversations": live_n, "enqueue_to_offer_ms": percentiles(enqueue_to_offer),
                     "post_to_ws_offer_ms": live["latency_ms"], "lost": live["lost"], "duplicated": live["duplicated"]},
            "backlog": {
                "conversations": a.routing_conversations, "posted_ok": sum(1 for s in backlog if s["status"] == 201),
                "queued": queued, "offers": len(decisions), "drain_seconds": round(drain_s, 2),
                "decisions_per_second": round(len(decisions) / drain_s, 1) if drain_s > 0 else None,
                "decision_latency_ms": percentiles([d[1] for d in decisions]),
                "processes": metrics,
            },
            "accepted": accepted["accepted"], "accept_refused": accepted["refused"],
            "accept_http_ms": percentiles(accepted["accept_ms"]),
            "over_capacity_agents": over, "work_items_with_two_live_offers": double,
            "loadavg": stack.loadavg(),
        }  # fmt: skip

    def _bounded_hammer(self, jobs, total: int) -> list[dict]:
        per = max(1, total // len(jobs))
        return run_senders(
            load.hammer, [(url, {**make, "limit": per}, *rest) for url, make, *rest in jobs], timeout=400
        )

    # connections ----------------------------------------------------------------------------------------------
    def connections(self, topology: str, servers) -> dict:
        from django.db import connection

        from conversations.models import Participant

        a = self.args
        ws_url, origin = self.ws_url()
        idle_keys = list(self.idle_agents.values())
        sockets = [idle_keys[i % len(idle_keys)] for i in range(a.idle_sockets)]
        memory_before = {s.name: s.memory_mb() for s in servers}
        idle = [
            Listener(load.ws_listen, ws_url, origin, part).start(wait=300) for part in split_round_robin(sockets, 2)
        ]
        time.sleep(2)
        memory_idle = {s.name: s.memory_mb() for s in servers}
        # active: agents that hold conversations (the routing agents, after the routing scenario)
        held = list(
            Participant.objects.filter(agent_id__in=list(self.routing_agents), left_at__isnull=True)
            .select_related("conversation")
            .values_list("conversation__end_user_address", "agent_id")
        )
        by_agent: dict[str, str] = {}
        for address, agent_id in held:
            by_agent.setdefault(str(agent_id), address)
        active_agents = list(by_agent)[: a.active_sockets]
        connection.close()
        result: dict = {"idle_sockets": a.idle_sockets, "active_sockets": len(active_agents)}
        try:
            if active_agents:  # none without the routing scenario: then idle sockets only
                active = Listener(
                    load.ws_listen, ws_url, origin, [self.routing_agents[x] for x in active_agents]
                ).start()
                rate = 25.0 if a.quick else 50.0
                n = int(rate * a.step_seconds)
                headers = {"Authorization": f"Bearer {self.partner_token}"}
                plan = []
                for i in range(n):
                    token = f"cx-{topology}-{i}-{self.run_id}"
                    plan.append({"at": i / rate, "path": "/api/v1/interactions/", "headers": headers, "token": token,
                                 "json": {"to": CHANNEL, "from": by_agent[active_agents[i % len(active_agents)]],
                                          "entries": [{"id": token, "type": "message", "text": token}]}})  # fmt: skip
                meter = stack.Meter(servers).start()
                sends = run_senders(load.send_plan, [(self.rest.url, plan, time.time() + 1, 16)], timeout=200)
                metrics = {**meter.stop(), "load_generators": {"cpu_s": round(GENERATOR_CPU["last"], 2)}}
                time.sleep(2)
                frames = active.finish()
                result["active"] = {"rate": rate, **match(sends, frames["frames"]), "processes": metrics}
        finally:
            idle_states = [listener.finish() for listener in idle]
        result["idle_connected"] = sum(s["connected"] for s in idle_states)
        result["idle_failed"] = sum(s["failed"] for s in idle_states)
        result["idle_dropped"] = sum(s["closed"] for s in idle_states)
        result["rss_mb_before"] = {k: v["rss"] for k, v in memory_before.items()}
        result["rss_mb_idle"] = {k: v["rss"] for k, v in memory_idle.items()}
        # per server process tree {"rss", "pss", "uss"}; the target is judged on the PSS total (stack.memory_mb)
        result["memory_mb_before"] = memory_before
        result["memory_mb_idle"] = memory_idle
        delta = memory_idle[self.ws.name]["rss"] - memory_before[self.ws.name]["rss"]
        result["ws_server_kb_per_connection"] = round(delta * 1024 / max(1, result["idle_connected"]), 1)
        for kind in ("rss", "pss", "uss"):
            result[f"total_{kind}_mb_idle"] = round(sum(m[kind] for m in memory_idle.values()), 1)
        result["loadavg"] = stack.loadavg()
        return result

    # driver ----------------------------------------------------------------------------------------------------
    def guarded(self, entry: dict, name: str, scenario, *args) -> None:
        """Run one scenario; a failure is recorded (and printed) instead of losing the whole run."""
        try:
            entry[name] = scenario(*args)
        except Exception as exc:
            import traceback

            traceback.print_exc()
            entry[name] = {"error": f"{type(exc).__name__}: {exc}"}
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.partial.json").write_text(json.dumps(self.results, indent=1, default=str))

    def run(self) -> dict:
        a = self.args
        self.prepare()
        if "baseline" in a.scenarios:
            self.pgbench()
        for topology in a.topologies:
            entry: dict = {"loadavg_start": stack.loadavg()}
            self.results["topologies"][topology] = entry
            if "baseline" in a.scenarios:
                self.guarded(entry, "baseline", self.baseline, topology)
            servers = self.start_topology(topology)
            try:
                entry["idle_rss_mb"] = {s.name: round(s.rss_mb(), 1) for s in servers}
                entry["startup_memory_mb"] = {s.name: s.memory_mb() for s in servers}  # rss/pss/uss, no load yet
                self.partner_token = self.token()
                if {"ingest", "reply", "routing", "connections"} & set(a.scenarios):
                    self.guarded(entry, "ingest", self.ingest, topology, servers)
                primary = topology == a.topologies[0]
                for name in ("reply", "routing", "connections"):
                    if name in a.scenarios and primary:
                        self.guarded(entry, name, getattr(self, name), topology, servers)
            finally:
                self.stop_servers(servers)
                if hasattr(self, "ingest_agents"):
                    set_presence(self.ingest_agents, "offline")
            entry["loadavg_end"] = stack.loadavg()
        self.results["machine"]["loadavg_end"] = stack.loadavg()
        self.results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        return self.results


def main(argv=None) -> int:
    args = parse_args(argv)
    random.seed(7)
    started = time.monotonic()
    if args.pgbouncer:
        bouncer = stack.start_pgbouncer(args.pgbouncer_pool_size)
        print(f"through PgBouncer on port {bouncer.port} (transaction pooling, {bouncer.pool_size} server connections)")
    try:
        results = Bench(args).run()
    finally:
        stack.stop_pgbouncer()
    if args.pgbouncer:
        results["pgbouncer"] = {"pool_mode": "transaction", "default_pool_size": args.pgbouncer_pool_size}
    results["seconds"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = render(results, out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
