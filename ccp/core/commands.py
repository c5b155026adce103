"""Helpers for management commands: domain errors become readable CommandErrors."""

from __future__ import annotations

import contextlib

from django.core.management.base import CommandError

from .errors import DomainError


def describe(exc: DomainError) -> str:
    lines = [f"{exc.message} [{exc.code}]"]
    if isinstance(exc.details, dict):
        for field, messages in exc.details.items():
            text = "; ".join(messages) if isinstance(messages, list) else str(messages)
            lines.append(f"  {field}: {text}")
    return "\n".join(lines)


@contextlib.contextmanager
def domain_errors_as_command_errors():
    try:
        yield
    except DomainError as exc:
        raise CommandError(describe(exc)) from None


class StopSignal:
    """Installs SIGINT and SIGTERM handlers that set `requested`: a supervisor's loop runs `while not
    stop.requested`, and may set it itself (a process it cannot do without has exited)."""

    def __init__(self) -> None:
        import signal

        self.requested = False
        signal.signal(signal.SIGINT, self._request)
        signal.signal(signal.SIGTERM, self._request)

    def _request(self, *_) -> None:
        self.requested = True


def stop_processes(procs, *, timeout: float) -> None:
    """Terminate every (name, process) still running, wait up to `timeout` seconds in all for them to
    exit, then kill what is left. A process is a subprocess.Popen or anything with its poll /
    terminate / wait / kill (ccp.serving.node.Forked)."""
    import subprocess
    import time

    for _, proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout
    for _, proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
