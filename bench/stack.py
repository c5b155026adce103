"""The real stack for the bench: the `ccp_bench` database, server subprocesses on loopback, process metrics."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from ccp import serving

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
# `run.py --pgbouncer`: the servers, workers and seeding connect through this PgBouncer (transaction
# pooling, DB_PGBOUNCER=1); pgbench and the database's drop and create stay on PostgreSQL directly.
PGBOUNCER = None


def start_pgbouncer(pool_size: int):
    """Start the bench's PgBouncer (bench/pgbouncer.py) in front of BENCH_PG; `stop_pgbouncer` ends it."""
    global PGBOUNCER
    from urllib.parse import urlsplit

    from bench.pgbouncer import PgBouncer

    server = urlsplit(PG)
    PGBOUNCER = PgBouncer(
        pool_size=pool_size, server_host=server.hostname or "127.0.0.1", server_port=server.port or 5432,
        user=server.username or "postgres", max_client_conn=5000,
    ).start()  # fmt: skip
    return PGBOUNCER


def stop_pgbouncer() -> None:
    global PGBOUNCER
    if PGBOUNCER is not None:
        PGBOUNCER.stop()
        PGBOUNCER = None


def database_url(database: str) -> str:
    return PGBOUNCER.url(database) if PGBOUNCER is not None else f"{PG}/{database}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {process.args}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listened on {port} after {timeout} s: {process.args}")


# extra environment for every server process: ccp_serve's (ccp.serving), then bench/run.py --server-env
SERVER_ENV: dict[str, str] = dict(serving.PROCESS_ENV)


def server_env(database: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(database),
        "DB_PGBOUNCER": "1" if PGBOUNCER is not None else "0",
        "REDIS_URL": REDIS,
        "CELERY_QUEUE": "ccp-bench",
        "CHANNEL_LAYER_PREFIX": "ccp-bench",
        "EVENTS_REDIS_PREFIX": "ccp-bench:events",
        "WEBHOOK_ALLOW_LOOPBACK": "1",
        "PARTNER_RATE_LIMIT": "10000000/min",  # the bench measures the path, not the throttle
        "DB_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "0",
        # DEBUG off refuses to start without them; the bench's database is throwaway
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
        "CONSENT_ERASE_SALT": os.environ.get("CONSENT_ERASE_SALT") or "bench-only-salt",
        "PYTHONUNBUFFERED": "1",
        **SERVER_ENV,
        **extra,
    }


def recreate_database(name: str) -> None:
    """Drop and create `name` (a dedicated bench database, never the product's)."""
    assert name.startswith("ccp_bench"), name
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", f"{PG}/postgres", "-q", "-c", sql], check=True, capture_output=True)


def manage(database: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=server_env(database),
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


class Server:
    """One server subprocess (daphne, gunicorn or a Celery worker) and its process tree's metrics."""

    def __init__(
        self, name: str, command: list[str], env: dict[str, str], port: int | None = None, ready_path: str = ""
    ):
        self.name, self.command, self.env, self.port, self.ready_path = name, command, env, port, ready_path
        self.process: subprocess.Popen | None = None
        self.log = ROOT / "var" / "bench" / f"{name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("w")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        if self.port:
            wait_port(self.port, self.process)
        if self.ready_path:  # any answer (even a 404) means the app is loaded
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(self.url + self.ready_path, timeout=120).close()  # noqa: S310 — our http URL
        return self

    def procs(self) -> list[psutil.Process]:
        if self.process is None or self.process.poll() is not None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self.procs():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def rss_mb(self) -> float:
        total = 0
        for p in self.procs():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total / 2**20

    def memory_mb(self) -> dict[str, float]:
        """RSS, PSS and USS of the process tree in MB (reads /proc/<pid>/smaps_rollup: for snapshots, not sampling).

        RSS counts a shared page once per process that maps it, so gunicorn's --preload workers (pages
        shared copy-on-write with the master) and the shared libraries are counted several times. PSS
        splits each shared page among the processes sharing it: PSS totals add up to the memory actually
        used. USS is the memory only this tree holds, what stopping it would free."""
        total = {"rss": 0, "pss": 0, "uss": 0}
        for p in self.procs():
            with contextlib.suppress(psutil.Error):
                info = p.memory_full_info()
                total["rss"] += info.rss
                total["pss"] += info.pss
                total["uss"] += info.uss
        return {key: round(value / 2**20, 1) for key, value in total.items()}

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


def daphne(database: str, app: str = "ccp.asgi:application", name: str = "daphne", **env: str) -> Server:
    port = free_port()
    command = serving.ws_command(sys.executable, "127.0.0.1", port, app=app)
    return Server(name, command, server_env(database, **env), port)


def rest_argv(port: int, workers: int, threads: int, app: str = "ccp.wsgi:application") -> list[str]:
    """REST as `manage.py ccp_serve` runs it (ccp.serving), with the bench's log level and backlog."""
    command = serving.rest_command(sys.executable, "127.0.0.1", port, workers=workers, threads=threads, app=app)
    return [*command, "--log-level", "warning", "--backlog", "2048"]


def worker_argv(concurrency: int) -> list[str]:
    """The Celery worker as ccp_serve runs it, without beat (the bench drives every step itself)."""
    command = serving.worker_command(sys.executable, concurrency=concurrency, beat=False, queue="ccp-bench")
    return [*command, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"]


def gunicorn(
    database: str, app: str = "ccp.wsgi:application", name: str = "gunicorn", workers: int = 2, threads: int = 1, **env
) -> Server:
    port = free_port()
    # a single worker loads the app after the port opens (ccp.serving): wait for its first answer
    return Server(name, rest_argv(port, workers, threads, app), server_env(database, **env), port, ready_path="/")


def celery_worker(database: str, concurrency: int = 4) -> Server:
    return Server("celery", worker_argv(concurrency), server_env(database, **{**serving.WORKER_ENV, **SERVER_ENV}))


class Role(Server):
    """One server of a node (`node` below): the node's processes of that name (ccp.serving.node.ROLE_NAMES), or,
    with no name, the node's own supervising process. Its metrics are the Server's; it starts and stops
    with the node."""

    def __init__(self, name: str, node: Server, process_name: str | None, port: int | None = None):
        super().__init__(name, [], {}, port)
        self.node, self.process_name = node, process_name

    def start(self) -> Role:
        return self

    def stop(self) -> None:
        pass

    def procs(self) -> list[psutil.Process]:
        if self.process_name is None:
            return self.node.procs()[:1]
        found = []
        for p in self.node.procs()[1:]:
            with contextlib.suppress(psutil.Error):
                if p.name() == self.process_name:
                    found.append(p)
        return found


def node(database: str, *, workers: int, threads: int, concurrency: int) -> tuple[Server, list[Role]]:
    """`ccp_serve`'s default: one process loads the app and forks gunicorn, daphne and the Celery worker
    (ccp.serving.node), all three with the commands above. Returns the node and its roles: gunicorn, daphne,
    celery and "node" (the supervising process), whose memory adds up to the node's."""
    from ccp.serving.node import ROLE_NAMES

    rest_port, ws_port = free_port(), free_port()
    env = server_env(database)
    plan = [
        {"name": "rest", "argv": rest_argv(rest_port, workers, threads), "env": env},
        {"name": "ws", "argv": serving.ws_command(sys.executable, "127.0.0.1", ws_port), "env": env},
        {"name": "worker", "argv": worker_argv(concurrency), "env": {**env, **serving.WORKER_ENV, **SERVER_ENV}},
    ]
    path = ROOT / "var" / "bench" / f"node-plan-{rest_port}.json"  # one per node: runs may overlap
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan))
    server = Server("node-tree", [sys.executable, "-m", "ccp.serving.node", str(path)], env, ws_port).start()
    path.unlink(missing_ok=True)  # read before the node forked: its port is open
    rest = Role("gunicorn", server, ROLE_NAMES["rest"], rest_port)
    with contextlib.suppress(urllib.error.HTTPError):  # any answer: gunicorn's worker is serving
        urllib.request.urlopen(rest.url + "/", timeout=120).close()  # noqa: S310 — our http URL
    roles = [rest, Role("daphne", server, ROLE_NAMES["ws"], ws_port), Role("celery", server, ROLE_NAMES["worker"])]
    return server, [*roles, Role("node", server, None)]


def purge_queue() -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    client.delete("ccp-bench")
    for key in client.scan_iter("ccp-bench*", count=1000):
        client.delete(key)


class External:
    """CPU of processes this bench did not start (PostgreSQL, Redis): shared with anyone else on the box."""

    def __init__(self, name: str, process_name: str):
        self.name, self.process_name = name, process_name

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in psutil.process_iter(["name", "cpu_times"]):
            if p.info["name"] == self.process_name and p.info["cpu_times"]:
                total += p.info["cpu_times"].user + p.info["cpu_times"].system
        return total

    def rss_mb(self) -> float:
        return 0.0  # shared buffers would be counted once per backend: not meaningful


class Own(External):
    """CPU of one process this bench started that is not a Server (the PgBouncer)."""

    def __init__(self, name: str, process: subprocess.Popen):
        self.name, self.pid = name, process.pid

    def cpu_seconds(self) -> float:
        try:
            t = psutil.Process(self.pid).cpu_times()
        except psutil.Error:
            return 0.0
        return t.user + t.system


def machine_busy_seconds() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


class Meter:
    """CPU seconds and peak RSS of a set of servers between start() and stop(); samples RSS every 0.25 s."""

    def __init__(self, servers: list[Server]):
        self.servers = servers
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()

    def start(self) -> Meter:
        self.t0 = time.monotonic()
        self.externals = [External("postgres", "postgres"), External("redis", "redis-server")]
        if PGBOUNCER is not None:
            self.externals.append(Own("pgbouncer", PGBOUNCER.process))
        self.cpu0 = {s.name: s.cpu_seconds() for s in [*self.servers, *self.externals]}
        self.busy0 = machine_busy_seconds()
        self.peak = {s.name: s.rss_mb() for s in self.servers}
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            for s in self.servers:
                self.peak[s.name] = max(self.peak.get(s.name, 0.0), s.rss_mb())

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(timeout=2)
        wall = time.monotonic() - self.t0
        out = {}
        for s in self.servers:
            cpu = s.cpu_seconds() - self.cpu0[s.name]
            out[s.name] = {
                "cpu_s": round(cpu, 2),
                "cpu_pct": round(100 * cpu / wall, 1) if wall else 0.0,
                "rss_mb": round(s.rss_mb(), 1),
                "peak_rss_mb": round(self.peak.get(s.name, 0.0), 1),
            }
        for e in self.externals:
            # Backends that exited during the step take their CPU with them: a negative delta means
            # "unknown" (PostgreSQL with short-lived connections), not a figure.
            cpu = max(0.0, e.cpu_seconds() - self.cpu0[e.name])
            out[e.name] = {"cpu_s": round(cpu, 2), "cpu_pct": round(100 * cpu / wall, 1) if wall else 0.0}
        busy = machine_busy_seconds() - self.busy0
        out["machine"] = {"cpu_s": round(busy, 2), "cpu_pct": round(100 * busy / wall, 1) if wall else 0.0}
        return out


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def partner_auth(client, demo: dict) -> dict[str, str]:
    """Bearer headers (Django test client style) for the demo partner, from POST /o/token/."""
    import base64

    basic = base64.b64encode(f"{demo['partner']['client_id']}:{demo['partner']['client_secret']}".encode()).decode()
    response = client.post("/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['access_token']}"}


def setup_django(database: str, settings: str = "ccp.settings") -> dict:
    """Seed the demo into `database` (idempotent), point this process at it the way the servers are
    configured, and set Django up in-process with `settings`; returns `ccp_demo --json`'s credentials."""
    demo = json.loads(manage(database, "ccp_demo", "--json").strip().splitlines()[-1])
    os.environ.update(server_env(database))
    os.environ["DJANGO_SETTINGS_MODULE"] = settings
    import django

    django.setup()
    return demo
