"""The benchmark suite (`make bench`, bench/run.py); see docs/performance.md. Not part of the product."""
