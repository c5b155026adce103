"""The reports page in Chromium, under the strict CSP: filters, KPI tiles, uPlot charts, the agent
table and the CSV downloads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from routing.models import AgentWork, WorkItem
from tenants.models import Membership
from tests.factories import PASSWORD

from .conftest import screenshot
from .test_csp_and_bidi import violations, watched_page
from .test_workspace import agent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _seed(tenant, alice):
    """Three days of work: each day 10:00 UTC onwards, n answered in 10 s, one abandoned."""
    base = timezone.now().replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=3)
    for day in range(3):
        start = base + timedelta(days=day)
        for n in range(day + 2):
            created = start + timedelta(minutes=n * 10)
            item = WorkItem.objects.create(tenant=tenant, reference=f"r{day}-{n}", status="done")
            WorkItem.objects.filter(pk=item.pk).update(created_at=created)
            work = AgentWork.objects.create(
                tenant=tenant, work_item=item, agent=alice, status="closed", expires_at=created
            )
            AgentWork.objects.filter(pk=work.pk).update(
                answered_at=created + timedelta(seconds=10 + 15 * n),
                closed_at=created + timedelta(minutes=5),
                ended_at=created + timedelta(minutes=6),
            )
        gone = WorkItem.objects.create(tenant=tenant, reference=f"a{day}", status="canceled")
        WorkItem.objects.filter(pk=gone.pk).update(created_at=start, done_at=start + timedelta(seconds=40))


def test_supervisor_reads_the_reports(browser, server, tenant):
    from playwright.sync_api import expect

    supervisor = agent(tenant, "Sam", "sam")
    Membership.objects.filter(pk=supervisor.pk).update(role="supervisor")
    alice = agent(tenant, "Alice", "alice")
    _seed(tenant, alice)

    page = watched_page(browser)
    page.goto(server.url + "/accounts/login/?next=/supervisor/reports/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server.url + "/supervisor/reports/")
    kpis = page.locator("#kpis")
    expect(kpis).to_contain_text("Offered")
    expect(kpis.locator(".tile", has_text="Offered").locator("strong")).to_have_text("12")  # 2+3+4 answered + 3
    expect(kpis.locator(".tile", has_text="Abandoned").locator("strong")).to_have_text("3 (0 short)")
    for chart in ("#chart-volume", "#chart-sl", "#chart-asa"):
        expect(page.locator(f"{chart} canvas")).to_have_count(1)
    expect(page.locator("#agents-table")).to_contain_text("Alice")
    expect(page.locator("#agents-table tr", has_text="Alice")).to_contain_text("9")
    href = page.locator("#csv-summary").get_attribute("href")
    assert "format=csv" in href
    csv = page.request.get(server.url + href)
    assert csv.ok and csv.headers["content-type"].startswith("text/csv")
    assert csv.text().splitlines()[-1].startswith("total,")
    # hourly, one queue-less filter: the page re-reads and redraws
    page.select_option("select[name=interval]", "hour")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#status")).to_contain_text("hours")
    page.select_option("select[name=interval]", "day")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#status")).to_contain_text("days")
    assert violations(page) == []
    screenshot(page, "supervisor-reports")
