"""ccp's settings with the baseline app installed beside the product (bench/cpu_per_request.py only)."""

from ccp.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench.baseline_app"]  # noqa: F405
ROOT_URLCONF = "bench.baseline_app.urls_combined"
