"""The A/B statistics (ccp.ai.abtest) and what the supervisor overview says with them."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from ccp.ai.abtest import MIN_N, compare_means, compare_rates, mean_ci, verdict, wilson
from routing import services
from routing.models import AgentWork, AiRoutingConfig, RouteFeedback
from tests.factories import MembershipFactory
from tests.routing.test_engine import agent, item


def test_wilson_interval_known_values():
    assert wilson(successes=0, n=0) is None
    assert wilson(successes=5, n=10) == pytest.approx([0.2366, 0.7634], abs=1e-4)
    low, high = wilson(successes=0, n=10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)  # never below 0, unlike the normal interval
    assert wilson(successes=10, n=10)[1] == 1.0


def test_mean_interval_and_welch_comparison():
    assert mean_ci(values=[3.0]) is None
    assert mean_ci(values=[1.0, 2.0, 3.0]) == pytest.approx([0.8684, 3.1316], abs=1e-4)
    same = compare_means(metric="m", a=[1.0, 2.0] * 20, b=[1.0, 2.0] * 20)
    assert same["difference"] == 0 and same["significant"] is False and same["p_value"] == 1.0
    apart = compare_means(metric="m", a=[10.0, 11.0] * 20, b=[1.0, 2.0] * 20)
    assert apart["significant"] is True and apart["difference"] == 9.0 and apart["ci"][0] > 8


def test_a_rate_difference_needs_both_a_small_p_and_enough_conversations():
    big = compare_rates(metric="resolution_rate", a=(45, 50), b=(25, 50))
    assert big["significant"] is True and big["p_value"] < 0.001 and big["difference"] == 0.4
    assert big["ci"][0] > 0.2
    tiny = compare_rates(metric="resolution_rate", a=(5, 5), b=(0, 5))  # p < 0.05, but 5 conversations an arm
    assert tiny["p_value"] < 0.05 and tiny["significant"] is False
    none = compare_rates(metric="resolution_rate", a=(0, 0), b=(3, 10))
    assert none["difference"] is None and none["significant"] is False
    sentence = verdict(comparisons=[tiny], routed={"ai": 5, "platform": 5})
    assert "not" in sentence and "not yet statistically significant" in sentence and f"fewer than {MIN_N}" in sentence
    sentence = verdict(comparisons=[big], routed={"ai": 50, "platform": 50})
    assert sentence.startswith("Significant at 95 %") and "resolution rate +40.0 points" in sentence


def test_the_supervisor_sees_intervals_and_a_significant_difference(client, tenant):
    AiRoutingConfig.objects.create(tenant=tenant, enabled=True, share=50)
    agent(tenant, "Worker", capacity=5)
    by_arm = {"ai": [], "platform": []}
    now = timezone.now()
    n = 0
    while min(len(v) for v in by_arm.values()) < MIN_N + 5:
        work_item = item(tenant, f"ref-{n}", attributes={"first_message": "I lost my card"})
        arm = work_item.decisions.get().arm
        k = len(by_arm[arm])
        by_arm[arm].append(work_item)
        n += 1
        work = AgentWork.objects.get(work_item=work_item)
        with transaction.atomic():
            services.work_accept(work=work)
            services.work_close(work=work)
        AgentWork.objects.filter(pk=work.pk).update(answered_at=now - timedelta(seconds=100 + k), closed_at=now)
        resolved = arm == "ai" or k % 4 == 0  # AI resolves all; platform a quarter
        RouteFeedback.objects.create(tenant=tenant, work_item=work_item, source="agent", resolved=resolved)
    client.force_login(MembershipFactory(tenant=tenant, role="supervisor").user)
    ab = client.get("/api/v1/supervisor/overview/").json()["ab"]
    arms = {row["arm"]: row for row in ab["arms"]}
    assert arms["ai"]["resolution_rate"] == 1.0 and arms["ai"]["resolution_ci"][1] == 1.0
    low, high = arms["platform"]["resolution_ci"]
    assert low < arms["platform"]["resolution_rate"] < high
    assert arms["ai"]["abandoned"] == 0 and arms["ai"]["abandonment_ci"][0] == 0.0
    assert arms["ai"]["mean_outcome_score"] == 1.0 and arms["platform"]["scored"] == len(by_arm["platform"])
    assert arms["ai"]["handle_ci"][0] < arms["ai"]["mean_handle_seconds"] < arms["ai"]["handle_ci"][1]
    comparisons = {row["metric"]: row for row in ab["comparisons"]}
    assert comparisons["resolution_rate"]["significant"] is True and comparisons["resolution_rate"]["difference"] > 0.5
    assert comparisons["transfer_rate"]["significant"] is False
    assert ab["significant"] is True and "resolution rate" in ab["verdict"]


def test_with_few_conversations_the_page_says_not_yet(client, tenant):
    AiRoutingConfig.objects.create(tenant=tenant, enabled=True, share=50)
    agent(tenant, "Worker", capacity=50)
    for n in range(6):
        item(tenant, f"ref-{n}", attributes={"first_message": "I lost my card"})
    client.force_login(MembershipFactory(tenant=tenant, role="supervisor").user)
    ab = client.get("/api/v1/supervisor/overview/").json()["ab"]
    assert ab["significant"] is False and "not yet statistically significant" in ab["verdict"]
    assert all(row["significant"] is False for row in ab["comparisons"])
    page = client.get("/supervisor/").content.decode()
    assert 'id="ab-verdict"' in page and "Outcome score (95 % CI)" in page


def test_a_tenant_admin_changes_the_share_and_new_decisions_follow_it(client, tenant):
    config = AiRoutingConfig.objects.create(tenant=tenant, enabled=True, share=50)
    agent(tenant, "Worker", capacity=50)
    client.force_login(MembershipFactory(tenant=tenant, role="admin").user)
    form = {
        "tenant": tenant.pk,
        "enabled": "on",
        "share": "0",
        "skill_groups": "{}",
        "min_probability": "0.5",
    }
    response = client.post(f"/admin/routing/airoutingconfig/{config.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    config.refresh_from_db()
    assert config.share == 0
    arms = {item(tenant, f"zero-{n}", attributes={"first_message": "hi"}).decisions.get().arm for n in range(8)}
    assert arms == {"platform"}
    response = client.post(f"/admin/routing/airoutingconfig/{config.pk}/change/", {**form, "share": "101"})
    assert response.status_code == 200 and not AiRoutingConfig.objects.filter(share=101).exists()
    listing = client.get("/admin/routing/airoutingconfig/").content.decode()
    assert 'name="form-0-share"' in listing  # editable from the list
