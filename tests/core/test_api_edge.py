"""The API edge: the error envelope for every error and Idempotency-Key replay."""

import threading

import pytest
from django.db import connection

from ccp.core.models import IdempotencyKey
from ccp.packages.models import Partner
from tests.helpers import assert_error, partner_client, token_for

pytestmark = pytest.mark.urls("tests.core.urls")
PROBE = "/api/v1/test/probe/"


def test_malformed_json_is_a_400_with_the_envelope(api):
    response = api.post(PROBE, data="{not json", content_type="application/json")
    error = assert_error(response, 400, "malformed_json")
    assert "JSON" in error["message"]


def test_validation_errors_name_the_field(api):
    response = api.post(PROBE, {"identifier": "not a slug!"}, format="json")
    error = assert_error(response, 400, "invalid")
    assert "identifier" in error["details"]
    assert error["message"].startswith("The request is not valid — identifier:")


def test_wrong_content_type_is_415(api):
    response = api.post(PROBE, data="identifier=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


def test_unknown_api_path_is_a_json_404(api):
    assert_error(api.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_wrong_method_is_405_with_the_envelope(api):
    assert_error(api.delete(PROBE), 405, "method_not_allowed")


def test_domain_errors_map_to_their_status(api):
    assert_error(api.post(PROBE, {"identifier": "x", "fail": True}, format="json"), 409, "told_to_fail")


def test_idempotent_replay_returns_the_first_response_and_runs_once(api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-1"}
    first = api.post(PROBE, {"identifier": "once"}, format="json", **headers)
    second = api.post(PROBE, {"identifier": "once"}, format="json", **headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Partner.objects.filter(name="probe").count() == 1


def test_reused_key_with_another_body_is_409(api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-2"}
    assert api.post(PROBE, {"identifier": "a"}, format="json", **headers).status_code == 201
    response = api.post(PROBE, {"identifier": "b"}, format="json", **headers)
    assert_error(response, 409, "idempotency_key_reused")
    assert not Partner.objects.filter(partner_identifier="b").exists()


def test_keys_are_per_partner(api, other_api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "shared"}
    assert api.post(PROBE, {"identifier": "p1"}, format="json", **headers).status_code == 201
    response = other_api.post(PROBE, {"identifier": "p2"}, format="json", **headers)
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


def test_a_refusal_is_replayed_too(api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-3"}
    body = {"identifier": "z", "fail": True}
    assert_error(api.post(PROBE, body, format="json", **headers), 409, "told_to_fail")
    replay = api.post(PROBE, body, format="json", **headers)
    assert_error(replay, 409, "told_to_fail")
    assert replay["Idempotent-Replayed"] == "true"


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_execute_once(connected_app):
    """Eight threads send the same keyed POST at once: exactly one insert happens."""
    token = token_for(connected_app)
    results = []
    barrier = threading.Barrier(8)

    def worker():
        try:
            client = partner_client(token)
            barrier.wait()
            response = client.post(PROBE, {"identifier": "race"}, format="json", HTTP_IDEMPOTENCY_KEY="race-key")
            results.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Partner.objects.filter(partner_identifier="race").count() == 1
    assert results.count(201) >= 1
    assert set(results) <= {201, 409}


def test_bad_idempotency_key_is_refused(api):
    response = api.post(PROBE, {"identifier": "k"}, format="json", HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert_error(response, 400, "invalid_idempotency_key")


def test_a_replay_is_the_response_as_rendered_with_datetimes_and_uuids(api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-dt"}
    first = api.post(PROBE, {"identifier": "dated"}, format="json", **headers)
    assert first.status_code == 201, first.content
    replay = api.post(PROBE, {"identifier": "dated"}, format="json", **headers)
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()  # the datetime and UUID as they were rendered
    assert IdempotencyKey.objects.get(key="key-dt").response_body["created_at"] == first.json()["created_at"]


def test_a_request_that_fails_releases_its_key_so_the_retry_runs(api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-crash"}
    crashed = api.post(PROBE, {"identifier": "retry", "crash": True}, format="json", **headers)
    assert_error(crashed, 500, "internal_error")
    assert not IdempotencyKey.objects.filter(key="key-crash").exists()
    # the caller fixes its request (or we fix the bug) and retries with the same key: it runs
    retried = api.post(PROBE, {"identifier": "retry"}, format="json", **headers)
    assert retried.status_code == 201, retried.content
    assert Partner.objects.filter(partner_identifier="retry").count() == 1
