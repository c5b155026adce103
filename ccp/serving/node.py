"""One node's servers forked from one process that has loaded the app (`ccp_serve`'s default).

gunicorn (REST), daphne (websockets, SSE) and the Celery worker each import the same ~100 MB of
Django, the apps and their libraries. Run as separate programs, each holds its own copy. Here one
process imports it all once (`preload`), freezes it for the garbage collector, and forks one child
per server, so the children share those pages copy-on-write; a child copies only the pages it writes.
Each child then runs exactly the command of `ccp.serving` (the same `python -m <module> <args>`,
through `runpy`), so the servers, their options and their signal handling are what `--no-fork` runs.
With 1,000 idle agent websockets the three servers took 356–358 MB PSS as separate programs and
285–296 MB forked from one node (docs/performance.md, "Third pass").

The parent only supervises: it opens no connection and starts no thread before it forks (a forked
child would inherit them), and when one child exits it stops the others, as `ccp_serve` always did.

`python -m ccp.serving.node PLAN.json` runs a plan written by bench/run.py: a list of {"name", "argv", "env"}.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import runpy
import signal
import subprocess
import sys
import time
import traceback

# what each forked child is called in `ps`/`top` (the kernel's 15-character process name)
ROLE_NAMES = {"rest": "ccp-rest", "ws": "ccp-ws", "worker": "ccp-worker"}
# The per-server variables of ccp.serving (REST_ENV, WORKER_ENV, PROCESS_ENV) that a forked child must
# apply itself, since ccp.settings was read once, in the parent. CELERY_SKIP_CHECKS is read by Celery
# when the worker starts, so setting it in the child's environment is enough.
SETTINGS_FROM_ENV = {"DB_CONN_MAX_AGE", "CELERY_SKIP_CHECKS"}


def preload() -> None:
    """Import what every server will run, then freeze it: a child's collector never visits (and so never
    writes to, and copies) these objects. No connection, thread or event loop may exist yet."""
    import ccp.asgi
    import ccp.wsgi  # noqa: F401 — also builds the URLconf (views, serializers, the admin)
    from ccp.celery import app

    app.loader.import_default_modules()  # the task modules
    import celery.apps.worker  # noqa: F401
    import gunicorn.app.wsgiapp  # noqa: F401

    # daphne is imported by its child only: importing daphne.server installs Twisted's reactor, with
    # its event loop, which a forked gunicorn or Celery child must not inherit
    from django.db import connections

    connections.close_all()
    for stream in (sys.stdout, sys.stderr):  # or each child would write the parent's buffered output again
        stream.flush()
    gc.collect()
    gc.freeze()


class Forked:
    """A forked child with the part of subprocess.Popen's interface that a supervisor uses."""

    def __init__(self, name: str, pid: int):
        self.name, self.pid, self.returncode = name, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                self.returncode = 0
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.name, timeout)
            time.sleep(0.05)
        return self.returncode


def _set_process_name(name: str) -> None:
    """The kernel's name of this process (what `ps -o comm`, `top` and psutil's name() show)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def _apply_env(env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)
    if env.get("PYTHONUNBUFFERED"):  # read by an interpreter only when it starts: apply it to ours
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError):
                stream.reconfigure(line_buffering=True)
    if "DB_CONN_MAX_AGE" in env:
        from django.conf import settings
        from django.db import connections

        age = int(env["DB_CONN_MAX_AGE"])
        for alias in settings.DATABASES:
            settings.DATABASES[alias]["CONN_MAX_AGE"] = age
            connections.settings[alias]["CONN_MAX_AGE"] = age


def _run_module(argv: list[str]) -> int:
    """`python -m module args…`, in this process: argv is a ccp.serving command."""
    if len(argv) < 3 or argv[1] != "-m":
        raise ValueError(f"not a `python -m` command: {argv}")
    module, args = argv[2], argv[3:]
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def fork(name: str, argv: list[str], env: dict[str, str]) -> Forked:
    pid = os.fork()
    if pid:
        return Forked(name, pid)
    code = 1
    try:  # the child: never returns into the parent's code
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _set_process_name(ROLE_NAMES.get(name, f"ccp-{name}"))
        _apply_env(env)
        code = _run_module(argv)
    except KeyboardInterrupt:
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def fork_all(plan: list[tuple[str, list[str], dict[str, str]]]) -> list[tuple[str, Forked]]:
    """Preload the app once, then fork one child per (name, argv, env) of the plan."""
    preload()
    return [(name, fork(name, argv, env)) for name, argv, env in plan]


def supervise(procs: list[tuple[str, Forked | subprocess.Popen]], *, say=print) -> int:
    """Wait until SIGTERM/SIGINT or until a child exits; then stop every child. Returns the exit code.
    `procs` are (name, process) pairs: forked children or subprocesses (`ccp_serve --no-fork`)."""
    from ccp.core.commands import StopSignal, stop_processes  # here: the bench imports this module before Django

    stop = StopSignal()
    code = 0
    try:
        while not stop.requested:
            for name, proc in procs:
                if proc.poll() is not None:
                    say(f"{name} exited with code {proc.returncode}; stopping everything.")
                    stop.requested, code = True, 1
            time.sleep(0.5)
    finally:
        stop_processes(procs, timeout=30)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m ccp.serving.node PLAN.json  (a list of {name, argv, env})", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        plan = [(step["name"], step["argv"], step["env"]) for step in json.load(f)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccp.settings")
    import django

    django.setup()
    procs = fork_all(plan)
    return supervise(procs, say=lambda line: print(line, file=sys.stderr, flush=True))


if __name__ == "__main__":
    sys.exit(main())
