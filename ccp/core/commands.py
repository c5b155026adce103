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
