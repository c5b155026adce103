"""Smoke test of the benchmark suite: bench/run.py --quick with tiny sizes on the real stack.

No timing is asserted (the machine is shared); only that the runner works end to end, writes its
JSON with the expected keys and that no item was lost or duplicated. Needs the `bench` extra, which
`make test` and `make bench` install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.bench


def test_quick_bench_writes_results_without_losses(tmp_path):
    """Direct to PostgreSQL: `--pgbouncer` runs the same code behind bench/pgbouncer.py, whose pooling
    tests/deploy/test_pgbouncer.py proves with real servers (a second run here cost a minute of CI)."""
    env = {
        **os.environ,
        "BENCH_REDIS_URL": settings.REDIS_URL,  # the suite's Redis database, not a running bench's db 6
        "BENCH_RATES": "10",
        "BENCH_REPLY_RATES": "10",
        "BENCH_STEP_SECONDS": "2",
        "BENCH_SATURATE_SECONDS": "1",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    command = [sys.executable, "bench/run.py", "--quick", "--scenarios", "ingest,reply", "--topologies", "node"]
    command += ["--database", "ccp_bench_smoke", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = json.loads((tmp_path / "results.json").read_text())
    assert {"started_at", "machine", "topologies", "targets"} <= set(results)
    node = results["topologies"]["node"]  # ccp_serve's: the servers forked from one loaded process
    ingest, reply = node["ingest"], node["reply"]
    # each server's processes were found by their names (bench/stack.py Role), and did the work
    assert {"gunicorn", "daphne", "celery", "node"} <= set(ingest["steps"][0]["processes"])
    assert (
        ingest["steps"][0]["processes"]["gunicorn"]["cpu_s"] > 0
        and reply["steps"][0]["processes"]["celery"]["cpu_s"] > 0
    )
    assert [s["rate"] for s in ingest["steps"]] == [10.0]
    for step in [*ingest["steps"], ingest["saturation"], *reply["steps"]]:
        assert step["accepted"] > 0
        assert step["lost"] == 0 and step["duplicated"] == 0, step
        assert {"p50", "p95", "p99"} <= set(step["latency_ms"])
    assert reply["receiver"]["bad_signature"] == 0
    assert results["targets"]["no_loss"]["met"] is True
    assert (tmp_path / "results.txt").exists()


def test_cpu_per_request_reports_the_paths_with_their_query_counts(tmp_path):
    env = {**os.environ, "BENCH_REDIS_URL": settings.REDIS_URL}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    out = tmp_path / "cpu.json"
    command = [sys.executable, "bench/cpu_per_request.py", "-n", "5", "--database", "ccp_bench_smoke_cpu"]
    command += ["--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    figures = json.loads(out.read_text())
    # the bare DRF insert, interleaved with the paths
    assert set(figures) == {"baseline", "ingest", "reply", "new"}
    for path in figures.values():
        assert path["n"] == 5 and path["cpu_ms_mean"] > 0 and path["wall_ms_median"] > 0
        assert path["vs_baseline"] == round(path["cpu_ms_median"] / figures["baseline"]["cpu_ms_median"], 2)
    assert figures["baseline"]["queries"] == 1
    # the pinned hot paths, counted with their after-commit fan-out (test_query_counts pins them in-test)
    assert figures["ingest"]["queries"] <= 6
    assert figures["reply"]["queries"] <= 10
    assert figures["new"]["queries"] <= 26  # a new conversation routed in its request
