"""The routing-rules grammar (what is accepted, and where a refusal points) and the evaluator."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from messenger_channel.routing.rules import (
    MAX_CONDITIONS,
    REGEX_SCAN_CHARS,
    Reference,
    RoutingFacts,
    RoutingRules,
    RuleSet,
    classify,
    references,
)

RULES = TypeAdapter(RoutingRules)
AT = datetime(2026, 11, 25, 16, 22, 11, tzinfo=UTC)  # a Wednesday


def parse(data: Any) -> list[RuleSet]:
    return RULES.validate_python(data)


def problems(data: Any) -> dict[str, str]:
    """Each refusal as {dotted path: message}, paths written as the API writes them."""
    with pytest.raises(ValidationError) as caught:
        parse(data)
    found = {}
    for error in caught.value.errors():
        path = "routing_rules"
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        found[path] = error["msg"].removeprefix("Value error, ")
    return found


def rule(when: dict[str, Any], queue_id: str | None = "q_a",
         set_: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"when": when}
    if queue_id is not None:
        body["queue_id"] = queue_id
    if set_ is not None:
        body["set"] = set_
    return body


def cond(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def one_rule(when: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": "r", "rules": [rule(when)]}]


WHEN = "routing_rules[0].rules[0].when"


# ------------------------------------------------------------------------------ grammar


def test_a_workstream_s_rules_read_back_as_written() -> None:
    data = [
        {"name": "tag", "rules": [
            rule({"any": [cond("message.text", "contains", "refund"),
                          cond("survey.topic", "in", ["Billing", "Invoices"])]},
                 queue_id=None, set_={"topic": "billing", "priority": 2, "vip": False}),
        ]},
        {"name": "route", "rules": [
            rule({"all": [cond("attributes.topic", "eq", "billing"),
                          {"not": cond("time.weekday", "gte", 6)},
                          cond("time.hour", "lte", 17.5)]}, queue_id="q_billing"),
            rule(cond("referral.ad_id", "exists", True), queue_id="q_ads"),
            rule(cond("message.payload", "regex", r"^ORDER_\d{6}$"), queue_id="q_orders"),
            rule({"all": []}, queue_id="q_everyone"),
        ]},
    ]
    assert RULES.dump_python(parse(data), mode="json", by_alias=True) == data


@pytest.mark.parametrize(("when", "path", "words"), [
    (cond("message.txt", "eq", "x"), f"{WHEN}.field", "unknown field 'message.txt'"),
    (cond("attributes.", "eq", "x"), f"{WHEN}.field", "unknown field"),
    (cond("survey.bad id", "eq", "x"), f"{WHEN}.field", "unknown field"),
    (cond("message.text", "like", "x"), f"{WHEN}.op", "Input should be 'eq'"),
    ({"field": "message.text", "value": "x"}, f"{WHEN}.op", "required with field"),
    ({"field": "message.text", "op": "eq"}, f"{WHEN}.value", "eq takes one value"),
    (cond("message.text", "eq", ["a"]), f"{WHEN}.value", "use in for a list"),
    (cond("message.text", "eq", {"a": 1}), f"{WHEN}.value", "a text, a number or a boolean"),
    (cond("customer.timezone", "gte", float("inf")), f"{WHEN}.value", "numbers are finite"),
    (cond("message.text", "in", []), f"{WHEN}.value", "in takes a list of 1 to 100"),
    (cond("message.text", "in", ["a"] * 101), f"{WHEN}.value", "in takes a list of 1 to 100"),
    (cond("message.text", "in", ["a", 1]), f"{WHEN}.value", "message.text is text"),
    (cond("message.text", "contains", ""), f"{WHEN}.value", "non-empty text"),
    (cond("message.text", "contains", "x" * 1001), f"{WHEN}.value", "at most 1000"),
    (cond("message.text", "exists", 1), f"{WHEN}.value", "true or false"),
    (cond("message.text", "gte", 1), f"{WHEN}.value", "message.text is text"),
    (cond("time.hour", "contains", "1"), f"{WHEN}.value", "time.hour is a number"),
    (cond("time.hour", "eq", "9"), f"{WHEN}.value", "compare it with numbers"),
    (cond("time.hour", "gte", True), f"{WHEN}.value", "compare it with numbers"),
    (cond("time.weekday", "in", [0, 1]), f"{WHEN}.value", "between 1 and 7"),
    (cond("customer.timezone", "lte", 15), f"{WHEN}.value", "between -12 and 14"),
    (cond("message.text", "regex", "("), f"{WHEN}.value", "not a valid regular expression"),
    (cond("message.text", "regex", "(a+)+b"), f"{WHEN}.value", "exponential"),
    (cond("message.text", "regex", "(?:a|b*)*c"), f"{WHEN}.value", "exponential"),
    (cond("message.text", "regex", "(a?a?)+b"), f"{WHEN}.value", "exponential"),
    (cond("message.text", "regex", r"(a)\1"), f"{WHEN}.value", "back-references"),
    (cond("message.text", "regex", "a*b*c*d*"), f"{WHEN}.value", "at most 3 open-ended"),
    (cond("message.text", "regex", "x" * 201), f"{WHEN}.value", "at most 200 characters"),
    ({}, WHEN, "a condition is one of"),
    ({"all": [], "any": []}, WHEN, "a condition is one of"),
    ({"not": cond("message.text", "eq", "a"), "op": "eq"}, WHEN, "a condition is one of"),
    ({"all": "x"}, f"{WHEN}.all", "valid list"),
    ({"every": []}, f"{WHEN}.every", "Extra inputs are not permitted"),
])
def test_a_refused_condition_names_its_place(when: dict[str, Any], path: str,
                                             words: str) -> None:
    found = problems(one_rule(when))
    assert path in found, found
    assert words in found[path]


def test_refusals_deep_inside_a_condition_name_the_whole_path() -> None:
    when = {"any": [cond("message.text", "eq", "a"),
                    {"not": {"all": [cond("time.hour", "gte", "9")]}}]}
    assert problems(one_rule(when)) == {
        f"{WHEN}.any[1].not.all[0].value": "time.hour is a number; compare it with numbers"}


def test_safe_patterns_are_accepted() -> None:
    for pattern in (r"(?i)\b(refund|money back)\b", r"^\w+@\w+\.\w+$", r"(ab)+",
                    r"(\d{3}-)+\d{4}", r"order\s*#?\d+", r"(?=.*urgent)"):
        parse(one_rule(cond("message.text", "regex", pattern)))


def test_nesting_and_size_are_bounded() -> None:
    leaf = cond("message.text", "eq", "a")
    deep: dict[str, Any] = leaf
    for _ in range(4):
        deep = {"not": deep}
    parse(one_rule(deep))  # five levels
    assert "at most 5 levels" in problems(one_rule({"not": deep}))[WHEN]
    wide = {"any": [leaf] * MAX_CONDITIONS}
    assert f"at most {MAX_CONDITIONS} conditions" in problems(one_rule(wide))[WHEN]


def test_rules_and_rulesets_are_bounded_as_in_dynamics() -> None:
    rules = [rule(cond("message.text", "eq", "a"))] * 100
    ruleset = {"name": "r", "rules": rules}
    parse([ruleset] * 10)
    assert "at most 10 items" in problems([ruleset] * 11)["routing_rules"]
    too_long = {"name": "r", "rules": rules * 2}
    assert "at most 100 items" in problems([too_long])["routing_rules[0].rules"]
    assert "at least 1 item" in problems([{"name": "r", "rules": []}])["routing_rules[0].rules"]


def test_a_rule_does_something() -> None:
    found = problems([{"name": "r", "rules": [rule(cond("message.text", "eq", "a"), None)]}])
    assert found == {"routing_rules[0].rules[0]":
                     "a rule sets attributes (set), routes to a queue (queue_id), or both"}
    found = problems([{"name": "r", "rules": [
        rule(cond("message.text", "eq", "a"), set_={"bad name": 1, "ok": "x" * 257})]}])
    assert "routing_rules[0].rules[0].set.bad name.[key]" in found
    assert "at most 256 characters" in found["routing_rules[0].rules[0].set.ok"]


def test_references_name_queues_and_survey_questions_with_their_paths() -> None:
    rules = parse([
        {"name": "a", "rules": [rule(cond("survey.topic", "eq", "x"), queue_id="q_1")]},
        {"name": "b", "rules": [
            rule(cond("message.text", "eq", "x"), queue_id=None, set_={"k": 1}),
            rule({"all": [{"not": cond("survey.order", "exists", True)}]}, queue_id="q_2"),
        ]},
    ])
    assert list(references(rules)) == [
        Reference("routing_rules[0].rules[0].queue_id", "queue", "q_1"),
        Reference("routing_rules[0].rules[0].when.field", "survey", "topic"),
        Reference("routing_rules[1].rules[1].queue_id", "queue", "q_2"),
        Reference("routing_rules[1].rules[1].when.all[0].not.field", "survey", "order"),
    ]


# ---------------------------------------------------------------------------- evaluator


def routes(when: dict[str, Any], facts: RoutingFacts, time_zone: str = "UTC") -> bool:
    return classify(parse(one_rule(when)), facts, time_zone=time_zone).queue_id == "q_a"


@pytest.mark.parametrize(("when", "facts", "expected"), [
    (cond("message.text", "eq", "REFUND"), RoutingFacts(AT, message_text="refund"), True),
    (cond("message.text", "eq", "refund"), RoutingFacts(AT, message_text="refund!"), False),
    (cond("message.text", "ne", "refund"), RoutingFacts(AT), True),  # ne is exactly not eq
    (cond("message.text", "contains", "Money"), RoutingFacts(AT, message_text="my money"), True),
    (cond("message.text", "contains", "x"), RoutingFacts(AT), False),
    (cond("message.text", "regex", "^Order"), RoutingFacts(AT, message_text="order 1"), False),
    (cond("message.text", "regex", "(?i)^Order"), RoutingFacts(AT, message_text="order"), True),
    (cond("message.text", "regex", "urgent"),
     RoutingFacts(AT, message_text="x" * REGEX_SCAN_CHARS + "urgent"), False),
    (cond("message.text", "exists", True), RoutingFacts(AT, message_text=""), False),
    (cond("message.text", "exists", False), RoutingFacts(AT), True),
    (cond("customer.locale", "in", ["de_DE", "de_AT"]),
     RoutingFacts(AT, customer_locale="de_at"), True),
    (cond("customer.timezone", "gte", 1), RoutingFacts(AT, customer_timezone=2.0), True),
    (cond("customer.timezone", "lte", 1), RoutingFacts(AT, customer_timezone=2.0), False),
    (cond("customer.timezone", "gte", 1), RoutingFacts(AT), False),
    (cond("attributes.tier", "eq", 5), RoutingFacts(AT, attributes={"tier": "5"}), False),
    (cond("attributes.vip", "eq", True), RoutingFacts(AT, attributes={"vip": 1}), False),
    (cond("attributes.vip", "eq", True), RoutingFacts(AT, attributes={"vip": True}), True),
    (cond("attributes.tier", "gte", 2), RoutingFacts(AT, attributes={"tier": 10**30}), True),
    (cond("survey.topic", "eq", "billing"),
     RoutingFacts(AT, survey={"topic": "Billing"}), True),
    (cond("referral.ref", "eq", "spring"), RoutingFacts(AT, referral_ref="spring"), True),
    (cond("time.weekday", "eq", 3), RoutingFacts(AT), True),
    (cond("time.hour", "eq", 16), RoutingFacts(AT.replace(tzinfo=None)), True),  # naive: UTC
])
def test_operators(when: dict[str, Any], facts: RoutingFacts, expected: bool) -> None:
    assert routes(when, facts) is expected


def test_time_is_read_in_the_workstream_s_time_zone() -> None:
    late_friday = RoutingFacts(datetime(2026, 11, 27, 23, 30, tzinfo=UTC))
    weekend = cond("time.weekday", "gte", 6)
    assert not routes(weekend, late_friday)
    assert routes(weekend, late_friday, time_zone="Europe/Berlin")  # Saturday 00:30 there
    assert routes(cond("time.hour", "eq", 0), late_friday, time_zone="Europe/Berlin")
    assert routes(cond("time.hour", "eq", 18), late_friday, time_zone="America/New_York")


def test_empty_all_holds_and_empty_any_does_not() -> None:
    assert routes({"all": []}, RoutingFacts(AT))
    assert not routes({"any": []}, RoutingFacts(AT))
    assert not routes({"not": {"all": []}}, RoutingFacts(AT))


def test_within_a_ruleset_the_first_matching_rule_applies() -> None:
    rules = parse([{"name": "r", "rules": [
        rule(cond("message.text", "contains", "nothing here"), queue_id="q_never"),
        rule(cond("message.text", "contains", "refund"), queue_id="q_first", set_={"a": 1}),
        rule({"all": []}, queue_id="q_second", set_={"b": 2}),
    ]}])
    result = classify(rules, RoutingFacts(AT, message_text="a refund"))
    assert (result.queue_id, result.attributes) == ("q_first", {"a": 1})
    result = classify(rules, RoutingFacts(AT, message_text="hello"))
    assert (result.queue_id, result.attributes) == ("q_second", {"b": 2})


def test_attributes_flow_to_later_rulesets_and_the_first_queue_wins() -> None:
    rules = parse([
        {"name": "tag", "rules": [
            rule(cond("message.text", "contains", "refund"), None, {"topic": "billing"})]},
        {"name": "route", "rules": [
            rule(cond("attributes.topic", "eq", "billing"), "q_billing", {"routed": True})]},
        {"name": "late", "rules": [rule({"all": []}, "q_late", {"topic": "other", "late": 1})]},
    ])
    result = classify(rules, RoutingFacts(AT, message_text="Refund please",
                                          attributes={"channel": "messenger"}))
    assert result.queue_id == "q_billing"
    assert result.attributes == {"channel": "messenger", "topic": "other", "routed": True,
                                 "late": 1}
    # Without the tag, the route ruleset matches nothing and the last one routes.
    result = classify(rules, RoutingFacts(AT, message_text="Hello"))
    assert result.queue_id == "q_late"


def test_no_matching_rule_leaves_the_queue_to_the_fallback() -> None:
    rules = parse(one_rule(cond("message.text", "eq", "x")))
    result = classify(rules, RoutingFacts(AT, attributes={"k": "v"}))
    assert (result.queue_id, result.attributes) == (None, {"k": "v"})
    assert classify([], RoutingFacts(AT)).queue_id is None


# ------------------------------------------------------------------ properties (hypothesis)

TEXT_FIELDS = ["customer.name", "customer.locale", "message.text", "message.payload",
               "referral.ref", "referral.ad_id", "survey.topic", "survey.order"]
NUMBER_FIELDS = {"customer.timezone": (-12, 14), "time.weekday": (1, 7), "time.hour": (0, 23)}
PATTERNS = [r"(?i)refund", r"^\d+$", r"\w+@\w+", r"[äöü]", r"(ab)+c", r"^$"]
scalars = st.one_of(st.text(max_size=10), st.integers(-5, 30), st.booleans(),
                    st.floats(-20, 30, allow_nan=False))


def _number_test(field: str) -> st.SearchStrategy[dict[str, Any]]:
    low, high = NUMBER_FIELDS[field]
    numbers = st.integers(low, high)
    return st.one_of(
        st.builds(cond, st.just(field), st.sampled_from(["eq", "ne", "gte", "lte"]), numbers),
        st.builds(cond, st.just(field), st.just("in"), st.lists(numbers, min_size=1, max_size=3)),
    )


texts = st.text(min_size=1, max_size=8)
leaves = st.one_of(
    st.builds(cond, st.sampled_from(TEXT_FIELDS), st.sampled_from(["eq", "ne", "contains"]),
              texts),
    st.builds(cond, st.sampled_from(TEXT_FIELDS), st.just("in"),
              st.lists(texts, min_size=1, max_size=3)),
    st.builds(cond, st.sampled_from(TEXT_FIELDS), st.just("regex"), st.sampled_from(PATTERNS)),
    st.builds(cond, st.sampled_from([*TEXT_FIELDS, "attributes.tier"]), st.just("exists"),
              st.booleans()),
    st.builds(cond, st.just("attributes.tier"), st.sampled_from(["eq", "ne"]), scalars),
    st.sampled_from(list(NUMBER_FIELDS)).flatmap(_number_test),
)


def conditions(depth: int = 5) -> st.SearchStrategy[dict[str, Any]]:
    if depth == 1:
        return leaves
    inner = conditions(depth - 1)
    return st.one_of(
        leaves,
        st.builds(lambda items: {"all": items}, st.lists(inner, max_size=2)),
        st.builds(lambda items: {"any": items}, st.lists(inner, max_size=2)),
        st.builds(lambda item: {"not": item}, inner),
    )


rules_strategy = st.lists(
    st.builds(lambda name, rules: {"name": name, "rules": rules},
              st.sampled_from(["a", "b", "c"]),
              st.lists(st.builds(lambda when, queue, tier: rule(when, queue, tier),
                                 conditions(),
                                 st.sampled_from(["q_1", "q_2", None]),
                                 st.fixed_dictionaries({"tier": scalars})),
                       min_size=1, max_size=4)),
    max_size=4,
)

facts_strategy = st.builds(
    RoutingFacts,
    at=st.datetimes(timezones=st.none() | st.timezones()),
    customer_name=st.none() | st.text(),
    customer_locale=st.none() | st.text(max_size=6),
    customer_timezone=st.none() | st.floats(),
    message_text=st.none() | st.text(),
    message_payload=st.none() | st.text(),
    referral_ref=st.none() | st.text(max_size=5),
    referral_ad_id=st.none() | st.text(max_size=5),
    survey=st.dictionaries(st.sampled_from(["topic", "order"]), st.text(max_size=5)),
    attributes=st.dictionaries(st.sampled_from(["tier", "other"]), scalars),
)
zones = st.sampled_from(["UTC", "Europe/Berlin", "Pacific/Kiritimati", "America/St_Johns"])


@settings(max_examples=300, deadline=None)
@given(rules_strategy, facts_strategy, zones)
def test_classify_never_raises_and_only_routes_to_named_queues(
    data: list[dict[str, Any]], facts: RoutingFacts, zone: str
) -> None:
    result = classify(parse(data), facts, time_zone=zone)
    assert result.queue_id in {None, "q_1", "q_2"}
    assert result.attributes.keys() <= {"tier", "other"}
    if facts.attributes.get("other") is not None:
        assert result.attributes["other"] == facts.attributes["other"]


@settings(max_examples=200, deadline=None)
@given(rules_strategy)
def test_valid_rules_read_back_as_written(data: list[dict[str, Any]]) -> None:
    assert RULES.dump_python(parse(data), mode="json", by_alias=True) == data


@settings(max_examples=300, deadline=None)
@given(conditions(4), facts_strategy, zones)
def test_not_inverts_any_condition(when: dict[str, Any], facts: RoutingFacts,
                                   zone: str) -> None:
    assert routes({"not": when}, facts, zone) is not routes(when, facts, zone)


@settings(max_examples=200, deadline=None)
@given(st.lists(conditions(3), max_size=4), facts_strategy)
def test_all_and_any_agree_with_their_parts(parts: list[dict[str, Any]],
                                            facts: RoutingFacts) -> None:
    each = [routes(part, facts) for part in parts]
    assert routes({"all": parts}, facts) is all(each)
    assert routes({"any": parts}, facts) is any(each)


@settings(max_examples=200, deadline=None)
@given(st.lists(conditions(3), min_size=1, max_size=5), facts_strategy)
def test_the_first_rule_that_holds_routes(whens: list[dict[str, Any]],
                                          facts: RoutingFacts) -> None:
    rules = parse([{"name": "r", "rules": [rule(when, f"q_{i}") for i, when in
                                           enumerate(whens)]}])
    holding = [i for i, when in enumerate(whens) if routes(when, facts)]
    expected = f"q_{holding[0]}" if holding else None
    assert classify(rules, facts).queue_id == expected
