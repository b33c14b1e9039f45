"""Routing rules: the grammar of API.md as pydantic models, and the evaluator the router runs.

    result = classify(workstream.routing_rules,
                      RoutingFacts(at=clock.now(), message_text="I want a refund"),
                      time_zone=workstream.time_zone)
    queue_id = result.queue_id or workstream.fallback_queue_id

A workstream holds an ordered list of rulesets; within a ruleset the first rule whose ``when``
holds applies: its ``set`` adds attributes, its ``queue_id`` routes. Every ruleset is
evaluated, later ones seeing the attributes set before; the first queue found wins.

Comparison semantics (the same for every field):

- ``eq``, ``ne``, ``in`` and ``contains`` ignore case for text; numbers compare as numbers;
  a value of another type never matches (``"5"`` is not ``5``). ``ne`` is exactly ``not eq``,
  so it holds for a missing field.
- ``regex`` searches (``re.search``) the first ``REGEX_SCAN_CHARS`` characters, case-sensitive
  unless the pattern says ``(?i)``.
- ``exists: true`` holds when the field has a value other than the empty string.
- ``gte`` and ``lte`` compare numbers only.
- ``time.weekday`` is ISO (1 = Monday ... 7 = Sunday) and ``time.hour`` 0-23, both in the
  workstream's time zone; ``time.open`` is true or false: whether the message came within the
  workstream's operating hours (``RoutingFacts.open``, true without hours);
  ``customer.timezone`` is the customer's UTC offset in hours, as the Messenger profile
  gives it.
"""

from __future__ import annotations

import functools
import importlib
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any, Literal, Self, TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)

# Dynamics 365 classification limits: at most 10 rulesets of at most 100 rules each.
MAX_RULESETS = 10
MAX_RULES = 100
# Ours, to keep a rule readable and its evaluation cheap.
MAX_DEPTH = 5  # levels of all / any / not
MAX_CONDITIONS = 50  # conditions in one rule's `when`, at every level
MAX_IN_VALUES = 100
MAX_TEXT_VALUE = 1000
MAX_SET_ATTRIBUTES = 20
MAX_ATTRIBUTE_TEXT = 256
# Python's `re` backtracks: a nested repeat such as (a+)+ takes exponential time and each
# further open-ended repeat multiplies the time by the text's length. Bounding the pattern,
# refusing nested repeats, allowing three open-ended repeats and scanning at most 500
# characters keeps the worst rule well under a few seconds per message, and usual ones
# (keywords, order numbers, e-mail addresses) in microseconds.
MAX_PATTERN_LENGTH = 200
MAX_OPEN_REPEATS = 3
OPEN_REPEAT = 100  # a repeat that may match more than this many times counts as open-ended
REGEX_SCAN_CHARS = 500

# The identifier of a survey question or an attribute: what may follow `survey.` or
# `attributes.` in a field name.
NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"
Name = Annotated[str, StringConstraints(pattern=f"^{NAME_PATTERN}$")]
QueueRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]

Scalar = str | int | float | bool
_SCALAR_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}


# Validated by hand rather than as a union: a union reports one error per member it tried
# ("value.str", "value.int"...), and accepts NaN and infinities, which JSON cannot store.
def _scalar(value: object) -> Scalar:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers are finite")
    if isinstance(value, str | int | float):  # bool is an int
        return value
    raise ValueError("a text, a number or a boolean")


def _operand(value: object) -> Scalar | list[Scalar] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [_scalar(item) for item in value]
    return _scalar(value)


def _attribute_value(value: object) -> Scalar:
    scalar = _scalar(value)
    if isinstance(scalar, str) and len(scalar) > MAX_ATTRIBUTE_TEXT:
        raise ValueError(f"at most {MAX_ATTRIBUTE_TEXT} characters")
    return scalar


AttributeValue = Annotated[
    Scalar, PlainValidator(_attribute_value), WithJsonSchema(_SCALAR_SCHEMA)]
Operand = Annotated[
    Scalar | list[Scalar] | None, PlainValidator(_operand),
    WithJsonSchema({"anyOf": [*_SCALAR_SCHEMA["anyOf"],
                              {"type": "array", "items": _SCALAR_SCHEMA}]}),
]
Op = Literal["eq", "ne", "in", "contains", "regex", "exists", "gte", "lte"]

_PLAIN_FIELDS = ("customer.name", "customer.locale", "customer.timezone", "message.text",
                 "message.payload", "referral.ref", "referral.ad_id", "time.weekday", "time.hour",
                 "time.open")
_BOOLEAN_FIELDS = ("time.open",)
_NUMBER_RANGES = {"customer.timezone": (-12.0, 14.0), "time.weekday": (1.0, 7.0),
                  "time.hour": (0.0, 23.0)}
FIELDS_DESCRIPTION = ", ".join([*_PLAIN_FIELDS, "survey.<question id>", "attributes.<name>"])


class _Kind(Enum):
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ANY = "any"  # attributes hold whatever `set` put there


def _field_kind(name: str) -> _Kind:
    head, dot, rest = name.partition(".")
    if head in ("survey", "attributes") and dot and re.fullmatch(NAME_PATTERN, rest):
        return _Kind.TEXT if head == "survey" else _Kind.ANY
    if name in _NUMBER_RANGES:
        return _Kind.NUMBER
    if name in _BOOLEAN_FIELDS:
        return _Kind.BOOLEAN
    if name in _PLAIN_FIELDS:
        return _Kind.TEXT
    raise ValueError(f"unknown field {name!r}; use one of {FIELDS_DESCRIPTION}")


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ------------------------------------------------------------------------------ grammar


class _Compact(BaseModel):
    """Refuses unknown keys (a misspelt `quue_id` would silently route nowhere) and leaves
    unset optional keys out of its JSON, so a rule reads back as it was written."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # No return annotation on purpose: with one, pydantic would describe the responses in
    # the OpenAPI document by that type instead of by the model's fields.
    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        return {key: value for key, value in handler(self).items() if value is not None}


_SHAPE = ('a condition is one of {"all": [...]}, {"any": [...]}, {"not": {...}} '
          'or {"field": ..., "op": ..., "value": ...}')


class Condition(_Compact):
    """One of: `all` (every condition holds; true when empty), `any` (one holds; false when
    empty), `not`, or a test `{field, op, value}`."""

    all_: list[Condition] | None = Field(None, alias="all")
    any_: list[Condition] | None = Field(None, alias="any")
    not_: Condition | None = Field(None, alias="not")
    field: str | None = Field(None, description=f"one of {FIELDS_DESCRIPTION}")
    op: Op | None = Field(None, validate_default=True)
    value: Operand = Field(
        None, validate_default=True,
        description="in: a list; regex: a pattern; exists: a boolean; gte, lte: a number",
    )

    @field_validator("field")
    @classmethod
    def _known_field(cls, name: str | None) -> str | None:
        if name is not None:
            _field_kind(name)
        return name

    @field_validator("op")
    @classmethod
    def _op_with_field(cls, op: Op | None, info: ValidationInfo) -> Op | None:
        if op is None and info.data.get("field") is not None:
            raise ValueError("required with field")
        return op

    @field_validator("value")
    @classmethod
    def _value_fits(cls, value: Scalar | list[Scalar] | None,
                    info: ValidationInfo) -> Scalar | list[Scalar] | None:
        name, op = info.data.get("field"), info.data.get("op")
        if name is not None and op is not None:
            _check_value(name, op, value)
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        forms = [form for form in (self.all_, self.any_, self.not_, self.field) if form is not None]
        if len(forms) != 1 or (self.field is None and (self.op, self.value) != (None, None)):
            raise ValueError(_SHAPE)
        return self


def _check_value(name: str, op: Op, value: Scalar | list[Scalar] | None) -> None:
    kind = _field_kind(name)
    if op == "exists":
        if not isinstance(value, bool):
            raise ValueError("exists takes true or false")
    elif op == "in":
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES:
            raise ValueError(f"in takes a list of 1 to {MAX_IN_VALUES} values")
        for item in value:
            _check_operand(name, kind, item)
    elif op in ("eq", "ne"):
        if value is None or isinstance(value, list):
            raise ValueError(f"{op} takes one value (use in for a list)")
        _check_operand(name, kind, value)
    elif kind is _Kind.BOOLEAN and op in ("contains", "regex", "gte", "lte"):
        raise ValueError(f"{name} is true or false: use eq, ne, in or exists")
    elif op in ("contains", "regex"):
        if kind is _Kind.NUMBER:
            raise ValueError(f"{name} is a number: use eq, ne, in, gte, lte or exists")
        if not isinstance(value, str) or not value:
            raise ValueError(f"{op} takes a non-empty text")
        problem = _regex_problem(value) if op == "regex" else _text_problem(value)
        if problem:
            raise ValueError(problem)
    else:  # gte, lte
        if kind is _Kind.TEXT:
            raise ValueError(f"{name} is text: use eq, ne, in, contains, regex or exists")
        _check_operand(name, _Kind.NUMBER, value)


def _check_operand(name: str, kind: _Kind, value: object) -> None:
    if kind is _Kind.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"{name} is true or false; compare it with true or false")
    elif kind is _Kind.NUMBER:
        if not _is_number(value):
            raise ValueError(f"{name} is a number; compare it with numbers")
        low, high = _NUMBER_RANGES.get(name, (float("-inf"), float("inf")))
        if not low <= value <= high:
            raise ValueError(f"{name} is between {low:g} and {high:g}")
    elif kind is _Kind.TEXT and not isinstance(value, str):
        raise ValueError(f"{name} is text; compare it with text")
    elif isinstance(value, str) and (problem := _text_problem(value)):
        raise ValueError(problem)
    elif value is None or isinstance(value, list):
        raise ValueError("values are text, numbers or booleans")


def _text_problem(text: str) -> str | None:
    return f"at most {MAX_TEXT_VALUE} characters" if len(text) > MAX_TEXT_VALUE else None


# The standard library's own regular-expression parser: it has no type stub, and a
# pattern's structure (its repeats) is needed to refuse the catastrophic ones.
_sre_parse: Any = importlib.import_module("re._parser")
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


# Cached: stored rules are validated again on every read of their workstream, which the
# router makes for every conversation it classifies; parsing is most of that time.
@functools.lru_cache(maxsize=4096)
def _regex_problem(pattern: str) -> str | None:
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"a pattern has at most {MAX_PATTERN_LENGTH} characters"
    try:
        re.compile(pattern)
    except re.error as error:
        return f"not a valid regular expression: {error}"
    open_repeats = 0
    pending: list[tuple[Any, bool]] = [(_sre_parse.parse(pattern), False)]
    while pending:
        items, repeated = pending.pop()
        for op, argument in items:
            name = str(op)
            if name.startswith("GROUPREF"):
                return "back-references are not supported"
            if name in _REPEATS:
                low, high, body = argument
                if repeated and high != low:
                    return ("a repeat inside a repeated group, e.g. (a+)+, can take exponential "
                            "time; rewrite it without the nesting")
                open_repeats += high > OPEN_REPEAT
                pending.append((body, repeated or high > 1))
            elif name == "SUBPATTERN":
                pending.append((argument[3], repeated))
            elif name == "BRANCH":
                pending.extend((branch, repeated) for branch in argument[1])
            elif name in ("ASSERT", "ASSERT_NOT"):
                pending.append((argument[1], repeated))
            elif name == "ATOMIC_GROUP":
                pending.append((argument, repeated))
    if open_repeats > MAX_OPEN_REPEATS:
        return (f"at most {MAX_OPEN_REPEATS} open-ended repeats (*, +, {{n,}}); bound the "
                "others, e.g. {1,20}")
    return None


def _check_size(raw: object) -> None:
    """Depth and size of a raw condition, checked before pydantic walks it recursively."""
    pending: list[tuple[object, int]] = [(raw, 1)]
    count = 0
    while pending:
        node, depth = pending.pop()
        if not isinstance(node, dict):
            continue
        count += 1
        if depth > MAX_DEPTH:
            raise ValueError(f"conditions nest at most {MAX_DEPTH} levels deep")
        if count > MAX_CONDITIONS:
            raise ValueError(f"a rule holds at most {MAX_CONDITIONS} conditions")
        for key in ("all", "any"):
            if isinstance(node.get(key), list):
                pending.extend((child, depth + 1) for child in node[key])
        pending.append((node.get("not"), depth + 1))


class Rule(_Compact):
    when: Condition
    set_: dict[Name, AttributeValue] | None = Field(
        None, alias="set", max_length=MAX_SET_ATTRIBUTES,
        description="attributes to add; later rulesets read them as attributes.<name>",
    )
    queue_id: QueueRef | None = Field(None, description="the queue to route to")

    @field_validator("when", mode="before")
    @classmethod
    def _bounded(cls, raw: object) -> object:
        _check_size(raw)
        return raw

    @model_validator(mode="after")
    def _does_something(self) -> Self:
        if not self.set_ and self.queue_id is None:
            raise ValueError("a rule sets attributes (set), routes to a queue (queue_id), or both")
        return self


class RuleSet(_Compact):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    rules: list[Rule] = Field(min_length=1, max_length=MAX_RULES)


RoutingRules = Annotated[list[RuleSet], Field(max_length=MAX_RULESETS)]


def _known_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin or UTC"
        ) from None
    return name


TimeZoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_known_time_zone)]


# --------------------------------------------------------------------------- references


@dataclass(frozen=True)
class Reference:
    """Something a rule names that must exist elsewhere: a queue or a survey question."""

    path: str  # e.g. routing_rules[0].rules[2].queue_id
    kind: Literal["queue", "survey"]
    target: str


def references(rulesets: Sequence[RuleSet], prefix: str = "routing_rules") -> Iterator[Reference]:
    for i, ruleset in enumerate(rulesets):
        for j, rule in enumerate(ruleset.rules):
            here = f"{prefix}[{i}].rules[{j}]"
            if rule.queue_id is not None:
                yield Reference(f"{here}.queue_id", "queue", rule.queue_id)
            yield from _survey_references(rule.when, f"{here}.when")


def _survey_references(condition: Condition, path: str) -> Iterator[Reference]:
    if condition.field is not None and condition.field.startswith("survey."):
        yield Reference(f"{path}.field", "survey", condition.field.removeprefix("survey."))
    for key, children in (("all", condition.all_), ("any", condition.any_)):
        for k, child in enumerate(children or ()):
            yield from _survey_references(child, f"{path}.{key}[{k}]")
    if condition.not_ is not None:
        yield from _survey_references(condition.not_, f"{path}.not")


# ---------------------------------------------------------------------------- evaluator


@dataclass(frozen=True)
class RoutingFacts:
    """What the router knows about a conversation when it classifies it."""

    at: datetime  # when the conversation is classified; naive means UTC
    customer_name: str | None = None
    customer_locale: str | None = None
    customer_timezone: float | None = None
    message_text: str | None = None
    message_payload: str | None = None
    referral_ref: str | None = None
    referral_ad_id: str | None = None
    survey: Mapping[str, str] = dataclass_field(default_factory=dict)  # question id → answer
    attributes: Mapping[str, Scalar] = dataclass_field(default_factory=dict)
    open: bool = True  # within the workstream's operating hours at ``at`` (none: always)


@dataclass(frozen=True)
class Classification:
    queue_id: str | None  # None: the caller routes to the workstream's fallback queue
    attributes: dict[str, Scalar]


_FACT_READERS: dict[str, Callable[[RoutingFacts], Scalar | None]] = {
    "customer.name": lambda facts: facts.customer_name,
    "customer.locale": lambda facts: facts.customer_locale,
    "customer.timezone": lambda facts: facts.customer_timezone,
    "message.text": lambda facts: facts.message_text,
    "message.payload": lambda facts: facts.message_payload,
    "referral.ref": lambda facts: facts.referral_ref,
    "referral.ad_id": lambda facts: facts.referral_ad_id,
}


@dataclass(frozen=True)
class _Context:
    facts: RoutingFacts
    local_time: datetime
    attributes: Mapping[str, Scalar]

    def read(self, name: str) -> Scalar | None:
        head, _, rest = name.partition(".")
        if head == "survey":
            return self.facts.survey.get(rest)
        if head == "attributes":
            return self.attributes.get(rest)
        if name == "time.weekday":
            return self.local_time.isoweekday()
        if name == "time.hour":
            return self.local_time.hour
        if name == "time.open":
            return self.facts.open
        reader = _FACT_READERS.get(name)
        return None if reader is None else reader(self.facts)


def classify(rulesets: Sequence[RuleSet], facts: RoutingFacts, *,
             time_zone: str = "UTC") -> Classification:
    """The queue and attributes the rules give; ``time_zone`` is the workstream's (validated)."""
    at = facts.at if facts.at.tzinfo is not None else facts.at.replace(tzinfo=UTC)
    attributes: dict[str, Scalar] = dict(facts.attributes)
    try:
        local_time = at.astimezone(ZoneInfo(time_zone))
    except OverflowError:  # within hours of year 1 or 9999: keep the given wall clock
        local_time = at
    context = _Context(facts, local_time, attributes)
    queue_id: str | None = None
    for ruleset in rulesets:
        rule = next((rule for rule in ruleset.rules if _holds(rule.when, context)), None)
        if rule is None:
            continue
        attributes.update(rule.set_ or {})  # the context sees them: it holds this dict
        if queue_id is None:
            queue_id = rule.queue_id
    return Classification(queue_id, attributes)


def _holds(condition: Condition, context: _Context) -> bool:
    if condition.all_ is not None:
        return all(_holds(child, context) for child in condition.all_)
    if condition.any_ is not None:
        return any(_holds(child, context) for child in condition.any_)
    if condition.not_ is not None:
        return not _holds(condition.not_, context)
    if condition.field is None or condition.op is None:
        return False
    return _test(condition.op, context.read(condition.field), condition.value)


def _test(op: Op, subject: Scalar | None, value: Scalar | list[Scalar] | None) -> bool:
    if op == "exists":
        return (subject is not None and subject != "") is value
    if op == "eq":
        return _same(subject, value)
    if op == "ne":
        return not _same(subject, value)
    if op == "in":
        return isinstance(value, list) and any(_same(subject, item) for item in value)
    if not isinstance(subject, str) or not isinstance(value, str):
        return op in ("gte", "lte") and _compare(op, subject, value)
    if op == "contains":
        return value.casefold() in subject.casefold()
    if op == "regex":
        return re.search(value, subject[:REGEX_SCAN_CHARS]) is not None
    return False


def _compare(op: Literal["gte", "lte"], subject: object, value: object) -> bool:
    if _is_number(subject) and _is_number(value):
        return subject >= value if op == "gte" else subject <= value
    return False


def _same(subject: object, value: object) -> bool:
    if isinstance(subject, str) and isinstance(value, str):
        return subject.casefold() == value.casefold()
    if isinstance(subject, bool) or isinstance(value, bool):
        return subject is value  # True is not 1 here
    return _is_number(subject) and _is_number(value) and subject == value
