"""The production serving topology as commands: what `manage.py ccp_serve` runs and bench/run.py measures.

REST on gunicorn (sync views, one process per core at most, `--preload` when there are several so
the workers share the imported code), websockets and the SSE event stream on daphne, one Celery
worker that also runs beat.
A reverse proxy in front gives them one public port (docs/serving.md). The figures behind each
default are in docs/performance.md ("Round 3: serving topology and memory").

No Django imports here: the bench builds the same commands before any settings exist. ccp.serving.node
forks them from one loaded process; management/commands/ccp_serve.py is `manage.py ccp_serve`.
"""

from __future__ import annotations

# Paths the proxy sends to daphne; everything else goes to gunicorn.
ASGI_PATHS = ("/ws/", "/api/v1/events/stream/")

# Extra environment for every process. Empty on purpose: MALLOC_ARENA_MAX=2 (fewer glibc malloc arenas
# for the threaded processes) was measured and changed nothing with 1,000 idle websockets (Round 3).
PROCESS_ENV: dict[str, str] = {}
# The Celery worker runs Django's system checks at start (loading every URL pattern, the admin and
# the API schema classes only to check them); gunicorn, daphne and `migrate` check the same code.
WORKER_ENV = {"CELERY_SKIP_CHECKS": "1"}
# A gunicorn worker is one thread per request slot: a persistent connection per thread is reused
# (under daphne it is not: ccp/settings.py keeps DB_CONN_MAX_AGE at 0 there).
REST_ENV = {"DB_CONN_MAX_AGE": "60"}


def rest_command(python: str, host: str, port: int, *, workers: int, threads: int, app: str = "ccp.wsgi:application"):
    """gunicorn for REST: `workers` processes, `threads` each (gthread). Several workers are forked from
    a preloaded master (they share the imported code); a single one loads the app itself, so the master
    stays a small supervisor instead of holding a second copy of the app that the worker's writes have
    mostly un-shared (−20 MB PSS with 1,000 idle websockets, docs/performance.md)."""
    command = [python, "-m", "gunicorn", app, "--bind", f"{host}:{port}", "--workers", str(workers)]
    if workers > 1:
        command.append("--preload")
    if threads > 1:  # more than one thread selects gunicorn's gthread worker
        command += ["--threads", str(threads)]
    return [*command, "--timeout", "60"]


def ws_command(python: str, host: str, port: int, *, app: str = "ccp.asgi:application"):
    """daphne for websockets (/ws/) and the event stream (SSE). Like gunicorn it sees the proxy's address
    as REMOTE_ADDR (docs/lockout-and-revocation.md says how to read the forwarded one)."""
    return [python, "-m", "daphne", "-b", host, "-p", str(port), app]


def worker_command(python: str, *, concurrency: int, beat: bool = True, queue: str | None = None):
    """The Celery worker in threads (tasks wait on PostgreSQL, Redis and partners' webhooks, not on CPU);
    with `beat` it also runs the periodic sweeps, so one process less (run exactly one such worker)."""
    command = [python, "-m", "celery", "-A", "ccp.celery", "worker", "-P", "threads", "-c", str(concurrency)]
    if queue:
        command += ["-Q", queue]
    if beat:
        command.append("--beat")
    return command
