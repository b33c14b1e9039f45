"""The core's refusals and their one translation to HTTP."""

from __future__ import annotations

import json

import pytest

from messenger_channel import errors
from messenger_channel.api.errors import STATUS_OF, refusal_response
from messenger_channel.errors import (
    Conflict,
    Forbidden,
    Invalid,
    Missing,
    Refusal,
    TooLarge,
    Unsupported,
)


def body(refusal: Refusal) -> tuple[int, dict[str, object]]:
    response = refusal_response(refusal)
    return response.status_code, json.loads(bytes(response.body))


def test_every_kind_of_refusal_has_a_status() -> None:
    kinds = {value for value in vars(errors).values()
             if isinstance(value, type) and issubclass(value, Refusal) and value is not Refusal}
    assert kinds == set(STATUS_OF)


@pytest.mark.parametrize(("refusal", "status", "answer"), [
    (Missing.of("conversation cv_1"), 404,
     {"error": "not_found", "message": "conversation cv_1 does not exist"}),
    (Conflict("offer_expired", "the offer expired"), 409,
     {"error": "offer_expired", "message": "the offer expired"}),
    (TooLarge("25 MB at most"), 413, {"error": "body_too_large", "message": "25 MB at most"}),
    (Unsupported("no .exe"), 415, {"error": "unsupported_media_type", "message": "no .exe"}),
    (Forbidden("consultants write notes"), 403,
     {"error": "forbidden", "message": "consultants write notes"}),
    (Invalid("a reply needs text"), 422,
     {"error": "validation_error", "message": "a reply needs text"}),
    (Invalid([("name", "too long"), ("queue_ids[0]", "unknown")]), 422,
     {"error": "validation_error", "message": "name: too long; queue_ids[0]: unknown",
      "fields": [{"field": "name", "message": "too long"},
                 {"field": "queue_ids[0]", "message": "unknown"}]}),
])
def test_each_refusal_answers_its_status_and_shape(
        refusal: Refusal, status: int, answer: dict[str, object]) -> None:
    assert body(refusal) == (status, answer)


def test_a_subclass_takes_its_parents_status() -> None:
    class PageGone(Missing):
        pass

    assert body(PageGone("page 1 does not exist"))[0] == 404
