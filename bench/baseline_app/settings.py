"""ccp's settings plus the baseline app and URLconf (bench only)."""

from ccp.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench.baseline_app"]  # noqa: F405
ROOT_URLCONF = "bench.baseline_app.urls"
