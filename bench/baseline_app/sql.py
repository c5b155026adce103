"""The baseline's table, created by bench/run.py (the model is unmanaged: no migrations in the product)."""

TABLE = "bench_baseline_row"
CREATE_SQL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    id bigserial PRIMARY KEY, text text NOT NULL, n integer NOT NULL, created_at timestamptz NOT NULL)"""
