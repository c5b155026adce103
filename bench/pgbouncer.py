"""A private PgBouncer in transaction pooling mode in front of the local PostgreSQL, for the bench and the tests.

Debian's `pgbouncer` package (`apt-get install -y pgbouncer`; `.ci/services` installs it for `make test`)
run as our own process with our own ini in a temporary directory on a free loopback port — never the
system service. Every database name is forwarded (`* = host=… port=…`), so the per-run test databases
and `ccp_bench` need no entry. PgBouncer refuses to run as root; as root it is started with `-u postgres`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BINARY_HINT = "PgBouncer is missing: apt-get install -y pgbouncer (Debian's package; .ci/services installs it)"


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgBouncer:
    """`with PgBouncer(pool_size=2) as bouncer:` — `bouncer.url(database)` is a DATABASE_URL through it."""

    def __init__(
        self,
        *,
        pool_size: int = 2,
        server_host: str = "127.0.0.1",
        server_port: int = 5432,
        user: str = "postgres",
        max_client_conn: int = 1000,
        pool_mode: str = "transaction",
    ):
        self.pool_size, self.server_host, self.server_port = pool_size, server_host, server_port
        self.user, self.max_client_conn, self.pool_mode = user, max_client_conn, pool_mode
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.dir: Path | None = None

    def url(self, database: str, **query: str) -> str:
        params = "&".join(f"{k}={v}" for k, v in query.items())
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}" + (f"?{params}" if params else "")

    def ini(self) -> str:
        assert self.dir is not None
        return "\n".join(
            [
                "[databases]",
                f"* = host={self.server_host} port={self.server_port}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {self.dir / 'users.txt'}",
                f"admin_users = {self.user}",
                f"pool_mode = {self.pool_mode}",
                f"default_pool_size = {self.pool_size}",
                "min_pool_size = 0",
                "reserve_pool_size = 0",
                f"max_client_conn = {self.max_client_conn}",
                # a client waits for a free server connection instead of failing (the default 120 s)
                "query_wait_timeout = 120",
                f"logfile = {self.dir / 'pgbouncer.log'}",
                f"pidfile = {self.dir / 'pgbouncer.pid'}",
                "",
            ]
        )

    def start(self) -> PgBouncer:
        binary = pgbouncer_binary()
        if binary is None:
            raise RuntimeError(BINARY_HINT)
        self.dir = Path(tempfile.mkdtemp(prefix="ccp-pgbouncer-"))
        self.port = _free_port()
        (self.dir / "users.txt").write_text(f'"{self.user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(self.ini())
        command = [binary, str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:  # "PgBouncer should not run as root"
            runner = pwd.getpwnam("postgres")
            for path in (self.dir, self.dir / "users.txt", self.dir / "pgbouncer.ini"):
                os.chown(path, runner.pw_uid, runner.pw_gid)  # its log and pid file go into the directory
            command[1:1] = ["-u", "postgres"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.log_text()
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not start on port {self.port}: {log[-2000:]}") from None
                time.sleep(0.05)

    def log_text(self) -> str:
        log = self.dir / "pgbouncer.log" if self.dir else None
        return log.read_text(errors="replace") if log and log.exists() else ""

    def admin(self, command: str) -> list[dict[str, str]]:
        """A command of PgBouncer's admin console (`SHOW POOLS`, `SHOW SERVERS`…) as rows of column → value."""
        psql = ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "pgbouncer", "-AF\t"]
        out = subprocess.run(
            [*psql, "-c", command],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
        header = out[0].split("\t")
        return [dict(zip(header, line.split("\t"), strict=False)) for line in out[1:] if "\t" in line]

    def server_connections(self, database: str) -> int:
        """Server connections PgBouncer holds (in use or idle) to `database`."""
        return sum(1 for row in self.admin("SHOW SERVERS") if row.get("database") == database)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
