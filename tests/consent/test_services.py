"""FIG 16A/16B in the services: the decision table, defaults, owner split, append-only history."""

import pytest
from django.db import DatabaseError, connection, transaction

from ccp.events.models import Event
from consent import services
from consent.errors import NotConsentOwner
from consent.models import ConsentChange, ConsentRecord
from consent.selectors import consent_evaluate

from .conftest import USER, history, install


def set_(channel, status, *, source="agent", as_owner="platform", address=USER):
    with transaction.atomic():
        return services.consent_update(
            channel=channel, address=address, status=status, source=source, actor="test", as_owner=as_owner
        )


@pytest.mark.django_db
class TestDecisionTable:
    def test_unknown_refuses_agent_initiated_but_allows_a_reply_to_who_wrote_first(self, platform_channel):
        cold = consent_evaluate(channel=platform_channel, address=USER)
        assert (cold.status, cold.allowed) == ("unknown", False)
        assert "explicit opt-in" in cold.reason
        warm = consent_evaluate(channel=platform_channel, address=USER, end_user_wrote=True)
        assert warm.allowed and "implicit consent" in warm.reason

    def test_opt_out_always_wins_even_when_the_end_user_wrote_first(self, platform_channel):
        set_(platform_channel, "opt_out")
        decision = consent_evaluate(channel=platform_channel, address=USER, end_user_wrote=True)
        assert (decision.status, decision.allowed) == ("opt_out", False)
        assert "opted out" in decision.reason and "agent" in decision.reason

    def test_opt_in_allows(self, platform_channel):
        set_(platform_channel, "opt_in")
        decision = consent_evaluate(channel=platform_channel, address=USER)
        assert decision.allowed and decision.owner == "platform" and decision.updated_at is not None

    def test_channel_definition_default_and_channel_override(self, tenant, partner):
        channel = install(tenant, partner, consent_defaults={"default_status": "opt_in"})
        assert consent_evaluate(channel=channel, address=USER).allowed
        assert "default is opt-in" in consent_evaluate(channel=channel, address=USER).reason
        channel.settings = {"consent": {"default_status": "unknown", "implicit_consent": False}}
        channel.save()
        assert not consent_evaluate(channel=channel, address=USER).allowed
        assert not consent_evaluate(channel=channel, address=USER, end_user_wrote=True).allowed


@pytest.mark.django_db
class TestUpdate:
    def test_every_change_is_recorded_and_published(self, platform_channel):
        set_(platform_channel, "opt_in")
        set_(platform_channel, "opt_in")  # the same value again: no new history, no event
        set_(platform_channel, "opt_out", source="web_form")
        assert history() == [("unknown", "opt_in", False, "agent"), ("opt_in", "opt_out", False, "web_form")]
        changed = list(Event.objects.filter(type="consent.changed").order_by("pk"))
        assert [e.data["status"] for e in changed] == ["opt_in", "opt_out"]
        assert changed[1].data["old_status"] == "opt_in" and changed[1].data["address"] == USER
        assert changed[1].partner_id == platform_channel.installation.package.partner_id
        change = ConsentChange.objects.last()
        assert change.actor == "test" and change.created_at.tzinfo is not None

    def test_only_the_consent_owner_may_change_it(self, platform_channel, tenant, partner):
        with pytest.raises(NotConsentOwner):
            set_(platform_channel, "opt_out", as_owner="partner", source="api")
        partner_owned = install(tenant, partner, consent_owner="partner", address="+15550002")
        with pytest.raises(NotConsentOwner):
            set_(partner_owned, "opt_out", as_owner="platform")
        set_(partner_owned, "opt_out", as_owner="partner", source="api")
        assert ConsentRecord.objects.get(channel=partner_owned).owner == "partner"
        assert not ConsentRecord.objects.filter(channel=platform_channel, source__gt="").exists()

    def test_double_opt_in_keeps_the_status_until_confirmed(self, tenant, partner):
        channel = install(tenant, partner, consent_defaults={"double_opt_in": True})
        record = set_(channel, "opt_in")
        assert record.status == "unknown" and record.pending_opt_in
        assert not consent_evaluate(channel=channel, address=USER).allowed
        assert "waiting for the end user's confirmation" in consent_evaluate(channel=channel, address=USER).reason
        assert history() == [("unknown", "unknown", True, "agent")]


@pytest.mark.django_db
class TestHistoryIsAppendOnly:
    def _change(self, platform_channel):
        set_(platform_channel, "opt_out")
        return ConsentChange.objects.get()

    def test_the_orm_refuses_edit_and_delete(self, platform_channel):
        change = self._change(platform_channel)
        change.new_status = "opt_in"
        with pytest.raises(ValueError):
            change.save()
        with pytest.raises(ValueError):
            change.delete()

    def test_the_database_refuses_raw_update_and_delete(self, platform_channel):
        change = self._change(platform_channel)
        for sql in (
            "UPDATE consent_consentchange SET new_status = 'opt_in' WHERE id = %s",
            "UPDATE consent_consentchange SET address = 'someone-else' WHERE id = %s",
            "DELETE FROM consent_consentchange WHERE id = %s",
        ):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [change.pk])
        assert ConsentChange.objects.filter(new_status="opt_out", address=USER).count() == 1
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            ConsentChange.objects.filter(pk=change.pk).delete()

    def test_only_erasure_may_hash_the_address(self, platform_channel, tenant):
        self._change(platform_channel)
        assert services.consent_erase_address(tenant=tenant, address=USER) == 2
        change = ConsentChange.objects.get()
        assert change.address == services.address_hash(USER) and change.address.startswith("sha256:")
        assert change.new_status == "opt_out"
