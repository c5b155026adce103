"""The product's URLs plus the baseline's endpoint, for bench/cpu_per_request.py only: one process
serves both, so the baseline is measured with the same middleware, connection and run as the paths."""

from ccp.urls import urlpatterns as product_urlpatterns

from .urls import urlpatterns as baseline_urlpatterns

urlpatterns = [*baseline_urlpatterns, *product_urlpatterns]
