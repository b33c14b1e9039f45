"""Meta's signed_request: what verifies, and that nothing else does (property tests)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messenger_channel.privacy.signed_request import (
    BadSignedRequest,
    b64url_encode,
    parse_signed_request,
    sign,
)

SECRET = "a" * 32
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def payload(**changes: object) -> dict[str, object]:
    return {"algorithm": "HMAC-SHA256", "issued_at": int(NOW.timestamp()) - 10,
            "expires": int(NOW.timestamp()) + 3600, "user_id": "1234567890", **changes}


def test_a_request_meta_signed_is_read() -> None:
    parsed = parse_signed_request(sign(payload(), SECRET), SECRET, NOW)
    assert parsed.user_id == "1234567890"
    assert parsed.issued_at == NOW - timedelta(seconds=10)


@pytest.mark.parametrize("changes", [
    {"algorithm": "HMAC-SHA1"}, {"algorithm": None}, {"issued_at": int(NOW.timestamp()) - 3601},
    {"issued_at": int(NOW.timestamp()) + 3600}, {"issued_at": "now"}, {"user_id": None},
    {"user_id": "12ab"}])
def test_wrong_algorithm_old_future_or_missing_fields_are_refused(
        changes: dict[str, object]) -> None:
    with pytest.raises(BadSignedRequest):
        parse_signed_request(sign(payload(**changes), SECRET), SECRET, NOW)


def test_another_secret_is_refused() -> None:
    with pytest.raises(BadSignedRequest, match="signature"):
        parse_signed_request(sign(payload(), "b" * 32), SECRET, NOW)


@given(st.text(max_size=300))
def test_arbitrary_text_never_verifies_and_never_raises_anything_else(raw: str) -> None:
    with pytest.raises(BadSignedRequest):
        parse_signed_request(raw, SECRET, NOW)


@given(st.dictionaries(st.text(max_size=10), st.none() | st.integers() | st.text(max_size=20),
                       max_size=5), st.binary(min_size=1, max_size=40))
def test_any_payload_with_a_forged_signature_is_refused(data: dict[str, object],
                                                        forged: bytes) -> None:
    body = b64url_encode(json.dumps({**payload(), **data}).encode())
    real = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).digest()
    if forged == real:
        return
    with pytest.raises(BadSignedRequest):
        parse_signed_request(f"{b64url_encode(forged)}.{body}", SECRET, NOW)


@given(st.integers(min_value=0, max_value=len(sign(payload(), SECRET)) - 1),
       st.sampled_from("AbZz09-_."))
def test_any_changed_character_is_refused(position: int, replacement: str) -> None:
    signed = sign(payload(), SECRET)
    changed = signed[:position] + replacement + signed[position + 1:]
    if changed == signed:
        return
    with pytest.raises(BadSignedRequest):
        parse_signed_request(changed, SECRET, NOW)


@given(st.integers(min_value=-3600, max_value=300))
def test_issued_within_the_hour_or_slightly_ahead_is_accepted(offset: int) -> None:
    signed = sign(payload(issued_at=int(NOW.timestamp()) + offset), SECRET)
    assert parse_signed_request(signed, SECRET, NOW).user_id == "1234567890"
