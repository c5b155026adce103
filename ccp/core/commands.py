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
