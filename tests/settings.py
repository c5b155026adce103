"""The test suite's settings: ccp.settings, with the secrets that DEBUG off requires set to test-only values.

They go into os.environ, not only into this module, so that the servers the suite starts (daphne,
Celery workers, the browser tests' backend, the bench) inherit them and start too.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("CONSENT_ERASE_SALT", "test-suite-only-salt")


def _redis_db_per_worker() -> None:
    """Under pytest-xdist (`make test` runs two workers) each worker has its own test database
    (pytest-django adds the worker's name) and gets its own Redis database too: keys, channel groups
    and Celery queues are named by row ids, which the workers' databases hand out alike. Done once in
    the worker and inherited by the servers it starts, which read these settings again."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    url = os.environ.get("REDIS_URL", "")
    if not worker.startswith("gw") or not url or os.environ.get("CCP_TEST_REDIS_WORKER") == worker:
        return
    base, _, db = url.rpartition("/")
    if not db.isdigit() or not base.startswith("redis"):
        return
    os.environ["REDIS_URL"] = f"{base}/{(int(db) - int(worker[2:])) % 16}"
    os.environ["CCP_TEST_REDIS_WORKER"] = worker


_redis_db_per_worker()

from ccp.settings import *  # noqa: E402, F403
