"""Run the production topology on one machine: gunicorn (REST), daphne (websockets + SSE), Celery with beat.

The processes listen on loopback; a reverse proxy gives them one public port (docs/serving.md has
an nginx configuration). ccp.serving holds the commands, chosen by measurement (docs/performance.md).
By default this process loads the app once and forks the three from it, so they share its memory
(ccp.serving.node); `--no-fork` runs the same commands as separate programs.
It needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL): the embedded default is `make run` (ccp_up).
A process that exits stops the others; run it under systemd (or similar) with Restart=always.
"""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ccp import serving
from ccp.serving import node


class Command(BaseCommand):
    help = "Run gunicorn (REST), daphne (websockets, SSE) and a Celery worker with beat until stopped."

    def add_arguments(self, parser):
        cpus = os.cpu_count() or 1
        parser.add_argument("--host", default=os.environ.get("CCP_SERVE_HOST", "127.0.0.1"))
        parser.add_argument("--rest-port", type=int, default=int(os.environ.get("CCP_REST_PORT") or "8000"))
        parser.add_argument("--ws-port", type=int, default=int(os.environ.get("CCP_WS_PORT") or "8001"))
        parser.add_argument(
            "--rest-workers",
            type=int,
            default=int(os.environ.get("CCP_REST_WORKERS") or str(max(1, cpus - 1))),
            help="gunicorn worker processes (default: one per core, less one for daphne, Celery and the rest)",
        )
        parser.add_argument(
            "--rest-threads",
            type=int,
            default=int(os.environ.get("CCP_REST_THREADS") or "4"),
            help="threads per gunicorn worker (requests waiting on the database overlap)",
        )
        parser.add_argument(
            "--worker-concurrency", type=int, default=int(os.environ.get("CCP_WORKER_CONCURRENCY") or "4")
        )
        parser.add_argument("--no-worker", action="store_true", help="no Celery worker (it runs elsewhere)")
        parser.add_argument("--no-beat", action="store_true", help="the worker without beat (beat runs elsewhere)")
        parser.add_argument(
            "--no-fork",
            action="store_true",
            help="run the commands as separate programs instead of forking them from this process (more memory)",
        )
        parser.add_argument("--print", action="store_true", help="print the commands and exit")

    def handle(self, *args, **options):
        if not (settings.DATABASE_URL and settings.REDIS_URL):
            raise CommandError(
                "ccp_serve needs DATABASE_URL (PostgreSQL) and REDIS_URL: several processes share the database "
                "and the channel layer. Without them, `make run` (manage.py ccp_up) runs the embedded default."
            )
        python, host = sys.executable, options["host"]
        # what the operator set in the environment wins over ccp.serving's defaults
        base = {**serving.PROCESS_ENV, **os.environ, "PYTHONUNBUFFERED": "1"}
        plan = [
            (
                "rest",
                serving.rest_command(
                    python, host, options["rest_port"], workers=options["rest_workers"], threads=options["rest_threads"]
                ),
                {**serving.REST_ENV, **base},
            ),
            ("ws", serving.ws_command(python, host, options["ws_port"]), base),
        ]
        if not options["no_worker"]:
            worker = serving.worker_command(
                python, concurrency=options["worker_concurrency"], beat=not options["no_beat"]
            )
            plan.append(("worker", worker, {**serving.WORKER_ENV, **base}))
        if options["print"]:
            defaults = {**serving.PROCESS_ENV, **serving.REST_ENV, **serving.WORKER_ENV}
            for name, argv, env in plan:
                # the variables ccp_serve adds for this process (what a systemd unit needs as Environment=)
                added = " ".join(f"{k}={env[k]}" for k in defaults if k in env and k not in os.environ)
                self.stdout.write(f"{name}: {added + ' ' if added else ''}{' '.join(argv)}")
            return
        if options["no_fork"]:
            root = Path(settings.BASE_DIR)
            # argv is built from our own interpreter, fixed module names and numbers, never from a request
            procs = [(name, subprocess.Popen(argv, cwd=root, env=env)) for name, argv, env in plan]  # noqa: S603
        else:
            procs = node.fork_all(plan)
        self.stdout.write(
            f"ccp: REST on http://{host}:{options['rest_port']}, "
            f"websockets and SSE on http://{host}:{options['ws_port']} "
            f"(proxy {', '.join(serving.ASGI_PATHS)} there); Ctrl-C stops everything."
        )
        self.stdout.flush()
        code = node.supervise(procs, say=self.stderr.write)
        if code:
            sys.exit(code)
