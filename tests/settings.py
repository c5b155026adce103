"""The test suite's settings: ccp.settings, with the secrets that DEBUG off requires set to test-only values.

They go into os.environ, not only into this module, so that the servers the suite starts (daphne,
Celery workers, the browser tests' backend, the bench) inherit them and start too.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("CONSENT_ERASE_SALT", "test-suite-only-salt")

from ccp.settings import *  # noqa: F403
