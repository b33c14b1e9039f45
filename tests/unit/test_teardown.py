"""How a page's deprovisioning ends (``provisioning/teardown.py``) and how health reports one
that does not: the decisions alone, on Graph's real error envelopes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from messenger_channel.facebook.graph_errors import GraphError, error_from_response
from messenger_channel.provisioning.health_rules import page_failures
from messenger_channel.provisioning.models import Page, ProvisioningState
from messenger_channel.provisioning.teardown import (
    MAX_ATTEMPTS,
    MAX_DURATION,
    STUCK_AFTER,
    after_refusal,
    stuck,
)

SINCE = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def graph_error(code: int, message: str, status: int = 400) -> GraphError:
    body = {"error": {"message": message, "type": "OAuthException", "code": code,
                      "fbtrace_id": "AbC123"}}
    return error_from_response(status, json.dumps(body).encode())


PERMISSION = graph_error(200, "(#200) Permissions error")
NO_PERMISSION = graph_error(10, "(#10) Application does not have permission for this action")
BUSY = graph_error(2, "An unexpected error has occurred. Please retry your request later.", 500)
DEAD_TOKEN = graph_error(190, "Error validating access token: Session has expired.")


@pytest.mark.parametrize("error", [PERMISSION, NO_PERMISSION, BUSY])
def test_a_refusal_is_retried_then_the_page_is_released_after_max_attempts(
        error: GraphError) -> None:
    for attempts in range(1, MAX_ATTEMPTS):
        outcome = after_refusal(error, attempts=attempts, since=SINCE, now=SINCE)
        assert not outcome.released
        assert f"attempt {attempts} of {MAX_ATTEMPTS}" in outcome.reason
        assert error.message in outcome.reason
    last = after_refusal(error, attempts=MAX_ATTEMPTS, since=SINCE, now=SINCE)
    assert last.released
    assert f"{MAX_ATTEMPTS} time(s) since 2026-12-05T08:00:00Z" in last.reason
    assert "Business integrations" in last.reason


def test_a_refusal_past_max_duration_releases_the_page_whatever_the_count() -> None:
    late = after_refusal(BUSY, attempts=2, since=SINCE, now=SINCE + MAX_DURATION)
    early = after_refusal(BUSY, attempts=2, since=SINCE,
                          now=SINCE + MAX_DURATION - timedelta(seconds=1))
    assert (late.released, early.released) == (True, False)
    assert "2026-12-06T08:00:00Z" in early.reason  # the deadline, for the operator


def test_a_dead_token_releases_the_page_at_once() -> None:
    outcome = after_refusal(DEAD_TOKEN, attempts=1, since=SINCE, now=SINCE)
    assert outcome.released
    assert "no longer valid" in outcome.reason and "Business integrations" in outcome.reason


def page(state: ProvisioningState, since: datetime | None = SINCE) -> Page:
    return Page(page_id="1001", account_id="acc_1", name="Support", provisioning_state=state,
                provisioning_error="Facebook refused to unsubscribe the app",
                deprovisioning_since=since, created_at=SINCE, updated_at=SINCE)


def test_stuck_is_deprovisioning_beyond_the_threshold() -> None:
    deprovisioning = page(ProvisioningState.DEPROVISIONING)
    assert not stuck(deprovisioning, SINCE + STUCK_AFTER - timedelta(seconds=1))
    assert stuck(deprovisioning, SINCE + STUCK_AFTER)
    assert not stuck(page(ProvisioningState.RUNNING), SINCE + MAX_DURATION)
    assert not stuck(page(ProvisioningState.DEPROVISIONED), SINCE + MAX_DURATION)


def test_health_names_only_a_stuck_deprovisioning_not_the_rules_of_a_live_page() -> None:
    deprovisioning = page(ProvisioningState.DEPROVISIONING)
    assert page_failures(deprovisioning, None, SINCE + timedelta(minutes=1)) == []
    [failure] = page_failures(deprovisioning, None, SINCE + STUCK_AFTER)
    assert (failure.rule, failure.subject) == ("page_deprovisioning_stuck", "page:1001")
    assert "since 2026-12-05T08:00:00Z" in failure.message
    assert "refused to unsubscribe" in failure.message
