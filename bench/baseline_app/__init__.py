"""The baseline of the bench: a bare DRF endpoint that validates a body and inserts one row.

Same settings, middleware, database and servers as ccp, but its own URLconf, so nothing of it is
reachable from the product's URLs. The table is created by bench/run.py (unmanaged model).
"""
