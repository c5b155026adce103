"""Database helpers shared by the apps."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.db import transaction


def on_commit_robust(func: Callable, *args) -> None:
    """`transaction.on_commit(robust=True)` of `func(*args)`.

    Django logs a failing robust callback by its `__qualname__`, which a bare `functools.partial`
    lacks: the AttributeError then escaped the commit and the request answered 500 although its
    data was committed (seen with PostgreSQL connections cut after COMMIT). The wrapper has a name.
    """
    transaction.on_commit(functools.update_wrapper(functools.partial(func, *args), func), robust=True)
