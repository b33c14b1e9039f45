"""What an erasure leaves of an archived body, and the audit trail's naming of acts (pure)."""

from __future__ import annotations

import json

from messenger_channel.api.audit_trail import actions_of, details_of, target_of
from messenger_channel.audit.log import clean_details
from messenger_channel.privacy.archive_scrub import without_customer


def _event(psid: str, text: str) -> dict[str, object]:
    return {"sender": {"id": psid}, "recipient": {"id": "10"}, "message": {"text": text}}


def test_an_envelope_of_the_customer_is_deleted_and_another_kept() -> None:
    ours = json.dumps({"page_id": "10", "customer_psid": "77", "raw": _event("77", "hi")})
    theirs = json.dumps({"page_id": "10", "customer_psid": "78", "raw": _event("78", "yo")})
    assert without_customer(ours.encode(), "10", "77") == (None, True)
    assert without_customer(theirs.encode(), "10", "77") == (theirs.encode(), False)


def test_a_whole_body_is_rewritten_without_the_customer_or_deleted_when_empty() -> None:
    body = {"object": "page", "entry": [
        {"id": "10", "messaging": [_event("77", "secret words"), _event("78", "kept")]},
        {"id": "10", "messaging": [_event("77", "more")]}]}
    kept, changed = without_customer(json.dumps(body).encode(), "10", "77")
    assert changed and kept is not None
    assert b"77" not in kept and b"secret" not in kept and b"kept" in kept
    only = {"object": "page", "entry": [{"id": "10", "messaging": [_event("77", "x")]}]}
    assert without_customer(json.dumps(only).encode(), "10", "77") == (None, True)


def test_rotations_and_keys_are_acts_of_their_own_and_values_are_not_kept() -> None:
    assert actions_of("PATCH", "/api/manage/accounts/{account_id}", {"app_secret"}) == (
        "account.update", "secret.rotated")
    assert actions_of("POST", "/api/manage/agents", set()) == ("agent.create", "key.issued")
    assert actions_of("PUT", "/api/manage/something/new", set()) == ("manage.update",)
    assert actions_of("GET", "/api/agent/conversations", set()) == ()
    details = details_of("/x", {"app_secret": "hunter2", "text": "my words", "queue_id": "q1"})
    assert "hunter2" not in str(details) and "my words" not in str(details)
    assert details["fields"] == ["app_secret", "queue_id", "text"] and details["queue_id"] == "q1"


def test_a_target_never_names_the_psid() -> None:
    target = target_of("/api/manage/customers/{page_id}/{psid}",
                       {"page_id": "10", "psid": "1234567"}, {"erasure_id": "er_1"})
    assert "1234567" not in target and "page_id:10" in target and "erasure_id:er_1" in target


def test_details_take_short_scalars_only() -> None:
    cleaned = clean_details({"n": 3, "long": "x" * 500, "ids": ["b", "a"]})
    assert cleaned == {"n": 3, "long": "x" * 200, "ids": ["a", "b"]}
