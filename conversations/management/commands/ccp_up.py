"""Start the whole platform for a demo or a single machine: seed the demo, then run the processes.

daphne serves HTTP + websockets; with REDIS_URL a Celery worker (with beat) runs beside it; the
example partners (examples/webchat_partner, examples/email_partner, examples/telephony_partner) run
too. Ctrl-C stops all of them.
"""

import json
import os
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from ccp.core.commands import StopSignal, stop_processes


class Command(BaseCommand):
    help = "Seed the demo data and run daphne, the Celery worker and the example partner until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("CCP_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("CCP_PORT", "8000")))
        parser.add_argument("--no-demo", action="store_true", help="Do not seed the demo data.")

    def handle(self, *args, **options):
        host, port = options["host"], options["port"]
        base_url = f"http://{host}:{port}"
        demo = None
        if not options["no_demo"]:
            out = StringIO()
            call_command("ccp_demo", "--json", stdout=out)
            demo = json.loads(out.getvalue())

        python = sys.executable
        root = Path(settings.BASE_DIR)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        procs: list[tuple[str, subprocess.Popen]] = []
        # how to start each again: the Celery worker can exit on a broker connection reset (a known
        # kombu failure while Redis restarts); it is restarted, as systemd's Restart= would do
        restartable: dict[str, tuple[list[str], dict]] = {}

        def spawn(name: str, argv: list[str], extra_env: dict | None = None, *, restart: bool = False) -> None:
            # argv is built here from our own interpreter and fixed module names, never from input
            proc = subprocess.Popen(argv, cwd=root, env={**env, **(extra_env or {})})  # noqa: S603
            procs.append((name, proc))
            if restart:
                restartable[name] = (argv, extra_env or {})

        # without Redis there is no Celery beat: daphne runs the sweeps itself (ccp/asgi.py)
        sweep = {} if settings.REDIS_URL else {"CCP_INPROCESS_SWEEP": "1"}
        spawn("daphne", [python, "-m", "daphne", "-b", host, "-p", str(port), "ccp.asgi:application"], sweep)
        if settings.REDIS_URL:
            spawn(
                "worker",
                [python, "-m", "celery", "-A", "ccp", "worker", "--beat", "-l", "WARNING", "-c", "2"],
                restart=True,
            )
        partner_main = root / "examples" / "webchat_partner" / "main.py"
        if partner_main.exists() and demo is not None:
            spawn(
                "partner",
                [python, str(partner_main)],
                {"CCP_URL": base_url, "CCP_DEMO_JSON": json.dumps(demo)},
            )
        email_main = root / "examples" / "email_partner" / "main.py"
        if email_main.exists() and demo is not None and "email" in demo:
            # EMAIL_RELAY unset: the agents' replies are written to var/email_partner/outbox/
            spawn(
                "email-partner",
                [python, str(email_main)],
                {
                    "CCP_URL": base_url,
                    "CCP_DEMO_JSON": json.dumps(demo),
                    "EMAIL_SMTP_PORT": os.environ.get("EMAIL_SMTP_PORT", "2525"),
                },
            )

        phone_main = root / "examples" / "telephony_partner" / "main.py"
        if phone_main.exists() and demo is not None and demo.get("voice_partner"):
            spawn(
                "phone",
                [python, str(phone_main)],
                {"CCP_URL": base_url, "CCP_DEMO_JSON": json.dumps(demo)},
            )

        self._banner(base_url, demo)
        stop = StopSignal()
        try:
            while not stop.requested:
                for index, (name, proc) in enumerate(procs):
                    if proc.poll() is None:
                        continue
                    if name in restartable:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; starting it again.")
                        time.sleep(1)
                        argv, extra = restartable[name]
                        procs[index] = (name, subprocess.Popen(argv, cwd=root, env={**env, **extra}))  # noqa: S603
                    else:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping everything.")
                        stop.requested = True
                time.sleep(0.5)
        finally:
            stop_processes(procs, timeout=10)
            self.stdout.write("Stopped.")

    def _banner(self, base_url: str, demo: dict | None) -> None:
        w = self.stdout.write
        w("")
        w(self.style.SUCCESS(f"ccp is starting on {base_url}  (Ctrl-C stops everything)"))
        partner_url = f"http://{os.environ.get('PARTNER_HOST', '127.0.0.1')}:{os.environ.get('PARTNER_PORT', '8001')}/"
        w(f"  end-user chat   : {partner_url}  (the example partner)")
        if demo and "email" in demo:
            smtp = f"127.0.0.1:{os.environ.get('EMAIL_SMTP_PORT', '2525')}"
            w(f"  e-mail          : mail {demo['email']['support_address']} via SMTP {smtp} (the e-mail partner)")
        phone_url = f"http://{os.environ.get('PHONE_HOST', '127.0.0.1')}:{os.environ.get('PHONE_PORT', '8002')}/"
        w(f"  end-user phone  : {phone_url}  (the example telephony partner)")
        w(f"  agent workspace : {base_url}/agent/")
        w(f"  supervisor      : {base_url}/supervisor/")
        w(f"  admin           : {base_url}/admin/")
        w(f"  API docs        : {base_url}/api/v1/docs/")
        if demo:
            for agent in demo["agents"]:
                w(f"  agent login     : {agent['username']} / {agent['password']}")
            w(f"  tenant admin    : {demo['admin']['username']} / {demo['admin']['password']}")
            w(f"  partner client  : {demo['partner']['client_id']} / {demo['partner']['client_secret']}")
        backend = "PostgreSQL" if "postgresql" in settings.DATABASES["default"]["ENGINE"] else "SQLite"
        layer = "Redis + Celery worker" if settings.REDIS_URL else "in-memory layer, eager Celery"
        w(f"  running on      : {backend}, {layer}")
        w("")
