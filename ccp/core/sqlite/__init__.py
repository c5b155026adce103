"""The embedded default's database backend: Django's SQLite backend with reused connections (base.py)."""
