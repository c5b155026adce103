"""The portable work-item sums (ccp/operations/portable.py: what the real-time report uses on the
embedded SQLite) equal PostgreSQL's aggregate (metrics.work_items_sql) on the same records — every
case of the definitions: answered in and out of the service level, a queue's own threshold,
abandoned and short-abandoned, transfers, outbound work, handled with and without ACW, two accepted
works of one item, and items outside the range. tests/test_embedded.py runs it on SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccp.operations import metrics, portable
from routing.models import Queue

from .conftest import at, item, work

pytestmark = pytest.mark.django_db


def test_portable_sums_equal_postgresqls(tenant, alice, bob):
    billing = Queue.objects.create(tenant=tenant, name="billing", service_level_seconds=30)
    fast = item(tenant, "2026-11-02 10:00:00")
    work(fast, alice, answered="2026-11-02 10:00:12", closed="2026-11-02 10:05:00", ended="2026-11-02 10:06:00")
    slow = item(tenant, "2026-11-02 10:10:00")  # 25 s: out of the default 20 s, in billing's 30 s below
    work(slow, bob, answered="2026-11-02 10:10:25", closed="2026-11-02 10:12:00")
    queued = item(tenant, "2026-11-02 11:00:00", queue=billing)
    work(queued, alice, answered="2026-11-02 11:00:25", status="accepted")
    twice = item(tenant, "2026-11-02 11:30:00", queue=billing)  # the first answered counts
    work(twice, bob, answered="2026-11-02 11:31:00", closed="2026-11-02 11:35:00")
    work(twice, alice, answered="2026-11-02 11:30:05", status="closed", closed="2026-11-02 11:33:00")
    item(tenant, "2026-11-02 12:00:00", status="canceled", done="2026-11-02 12:00:04")  # short abandon
    item(tenant, "2026-11-02 12:10:00", status="canceled", done="2026-11-02 12:11:00", queue=billing)
    item(tenant, "2026-11-02 12:20:00", status="canceled", done="2026-11-02 12:20:02", transfer=True)
    item(tenant, "2026-11-02 12:30:00", status="queued")
    item(tenant, "2026-11-02 12:40:00", outbound=True)  # not offered
    item(tenant, "2026-11-02 12:50:00", outbound="true")
    item(tenant, "2026-11-02 23:59:59", status="offered")
    item(tenant, "2026-11-03 00:00:00")  # the next day: outside the one-day range
    item(tenant, "2026-11-01 23:59:59")  # the day before

    day = [at("2026-11-02 00:00:00"), at("2026-11-03 00:00:00")]
    hours = [at("2026-11-02 00:00:00") + timedelta(hours=h) for h in range(25)]
    for bounds in (day, hours):
        for by_queue in (False, True):
            sql = metrics.work_item_rows(tenant_id=tenant.pk, bounds=bounds, group_by_queue=by_queue)
            python = portable.work_item_rows(tenant_id=tenant.pk, bounds=bounds, group_by_queue=by_queue)
            assert set(python) == set(sql), (set(python), set(sql))
            for key in sql:
                assert metrics.work_item_metrics(python[key]) == pytest.approx(metrics.work_item_metrics(sql[key]))
                assert {k: float(v) for k, v in python[key].items()} == pytest.approx(
                    {k: float(sql[key][k]) for k in python[key]}
                ), key
    total = metrics.work_item_metrics(portable.work_item_rows(tenant_id=tenant.pk, bounds=day)[None])
    # hand-computed: 9 offered (2 outbound left out), 4 answered; 2 abandoned, 1 of them short
    # (the transfer is not an abandon); in SL: fast (12 s ≤ 20), queued (25 ≤ 30), twice (5 ≤ 30)
    assert total["offered"] == 9 and total["answered"] == 4 and total["abandoned"] == 2
    assert total["short_abandoned"] == 1 and total["transfers"] == 1
    assert total["service_level"] == pytest.approx(3 / 8)  # slow: 25 s > 20
    assert total["asa_seconds"] == pytest.approx((12 + 25 + 25 + 5) / 4)
    assert total["handled"] == 3  # fast, slow, twice (by alice's first answered work)
    assert total["aht_seconds"] == pytest.approx(((288 + 60) + 95 + 175) / 3)
