"""Business hours: what a workstream's ``operating_hours`` accepts (and where a refusal points),
``is_open`` and ``next_opening`` on ordinary days, holidays in the local date, and the days the
clocks change (New York and Lisbon); ``time.open`` in the routing rules; the one time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from messenger_channel.errors import Invalid
from messenger_channel.routing.rules import RoutingFacts, RoutingRules, classify
from messenger_channel.workforce.operating_hours import (
    DAYS,
    OperatingHours,
    is_open,
    next_opening,
)
from messenger_channel.workforce.workstreams import (
    LinkSurvey,
    RatingSurvey,
    WorkstreamCreate,
    one_time_zone,
    routing_time_zone,
)

NEW_YORK = "America/New_York"
# 2026 in New York: clocks go forward on Sunday 8 March at 02:00 EST (07:00 UTC) to 03:00 EDT,
# and back on Sunday 1 November at 02:00 EDT (06:00 UTC) to 01:00 EST.
SPRING_FORWARD = date(2026, 3, 8)
FALL_BACK = date(2026, 11, 1)


def hours(time_zone: str = "UTC", holidays: list[str] | None = None,
          **weekly: list[list[str]]) -> OperatingHours:
    return OperatingHours.model_validate(
        {"time_zone": time_zone, "weekly": weekly, "holidays": holidays or []})


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        WorkstreamCreate.model_validate(
            {"name": "S", "page_id": "1", "fallback_queue_id": "q", **data})
    found = {}
    for error in caught.value.errors():
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
        found[path] = error["msg"].removeprefix("Value error, ")
    return found


def open_minutes(h: OperatingHours, start: datetime, end: datetime) -> list[datetime]:
    """The UTC minutes in [start, end) at which ``h`` is open."""
    found = []
    moment = start
    while moment < end:
        if is_open(h, moment):
            found.append(moment)
        moment += timedelta(minutes=1)
    return found


# ------------------------------------------------------------------------------ validation


def test_a_full_week_is_accepted_and_holidays_are_a_sorted_set() -> None:
    weekdays = {day: [["09:00", "12:30"], ["13:30", "18:00"]] for day in DAYS[:5]}
    h = hours("Europe/Lisbon", ["2026-12-25", "2026-01-01", "2026-12-25"],
              **weekdays, sat=[["10:00", "24:00"]])
    assert h.weekly.mon == [["09:00", "12:30"], ["13:30", "18:00"]]
    assert h.weekly.sat == [["10:00", "24:00"]] and h.weekly.sun == []
    assert h.holidays == ["2026-01-01", "2026-12-25"]
    # Ranges that touch do not overlap.
    assert hours(mon=[["09:00", "12:00"], ["12:00", "18:00"]]).weekly.mon[1] == ["12:00", "18:00"]


OH = "operating_hours"
PROBLEMS: list[tuple[dict[str, Any], str, str]] = [
    ({"time_zone": "Mars/Olympus", "weekly": {}}, f"{OH}.time_zone", "unknown time zone"),
    ({"weekly": {}}, f"{OH}.time_zone", "Field required"),
    ({"time_zone": "UTC"}, f"{OH}.weekly", "Field required"),
    ({"time_zone": "UTC", "weekly": {"monday": []}}, f"{OH}.weekly.monday", "Extra inputs"),
    ({"time_zone": "UTC", "weekly": {"mon": [["9:00", "18:00"]]}}, f"{OH}.weekly.mon[0][0]",
     "pattern"),
    ({"time_zone": "UTC", "weekly": {"mon": [["09:00", "24:30"]]}}, f"{OH}.weekly.mon[0][1]",
     "pattern"),
    ({"time_zone": "UTC", "weekly": {"mon": [["18:00", "09:00"]]}}, f"{OH}.weekly.mon[0]",
     "starts before it ends"),
    ({"time_zone": "UTC", "weekly": {"tue": [["09:00", "09:00"]]}}, f"{OH}.weekly.tue[0]",
     "starts before it ends"),
    ({"time_zone": "UTC", "weekly": {"mon": [["24:00", "24:00"]]}}, f"{OH}.weekly.mon[0]",
     "24:00 only ends a range"),
    ({"time_zone": "UTC", "weekly": {"mon": [["09:00"]]}}, f"{OH}.weekly.mon[0]",
     "at least 2 items"),
    ({"time_zone": "UTC", "weekly": {"wed": [["09:00", "13:00"], ["12:00", "18:00"]]}},
     f"{OH}.weekly.wed", "12:00-18:00 overlaps 09:00-13:00"),
    ({"time_zone": "UTC", "weekly": {"wed": [["14:00", "18:00"], ["09:00", "12:00"]]}},
     f"{OH}.weekly.wed", "09:00-12:00 comes before 14:00-18:00"),
    ({"time_zone": "UTC", "weekly": {"fri": [[f"{h:02}:00", f"{h:02}:30"] for h in range(11)]}},
     f"{OH}.weekly.fri", "at most 10 items"),
    ({"time_zone": "UTC", "weekly": {}, "holidays": ["2026-02-30"]}, f"{OH}.holidays[0]",
     "not a date"),
    ({"time_zone": "UTC", "weekly": {}, "holidays": ["25/12/2026"]}, f"{OH}.holidays[0]",
     "pattern"),
    ({"time_zone": "UTC", "weekly": {},
      "holidays": [(date(2026, 1, 1) + timedelta(days=n)).isoformat() for n in range(367)]},
     f"{OH}.holidays", "at most 366 items"),
    ({"time_zone": "UTC", "weekly": {}, "closed": True}, f"{OH}.closed", "Extra inputs"),
]


@pytest.mark.parametrize(("value", "field", "message"), PROBLEMS,
                         ids=[f"{i}-{case[1]}" for i, case in enumerate(PROBLEMS)])
def test_refusals_name_the_field(value: dict[str, Any], field: str, message: str) -> None:
    found = problems({OH: value})
    assert field in found, found
    assert message in found[field]


# --------------------------------------------------------------------- open, ordinary days


def test_without_hours_always_open() -> None:
    assert is_open(None, utc(2026, 12, 25, 3, 0))
    assert next_opening(None, utc(2026, 12, 25, 3, 0)) == utc(2026, 12, 25, 3, 0)


def test_ranges_include_their_start_and_exclude_their_end() -> None:
    h = hours(wed=[["09:00", "12:30"], ["13:30", "18:00"]], thu=[["20:00", "24:00"]])

    def at(hh: int, mm: int, ss: int = 0) -> datetime:
        return utc(2026, 11, 25, hh, mm, ss)  # a Wednesday

    assert not is_open(h, at(8, 59, 59))
    assert is_open(h, at(9, 0)) and is_open(h, at(12, 29, 59))
    assert not is_open(h, at(12, 30)) and not is_open(h, at(13, 29))
    assert is_open(h, at(17, 59, 59)) and not is_open(h, at(18, 0))
    assert is_open(h, utc(2026, 11, 26, 23, 59, 59))  # "24:00" ends at midnight
    assert not is_open(h, utc(2026, 11, 27, 0, 0))
    assert is_open(h, datetime(2026, 11, 25, 10, 0))  # naive: UTC


def test_hours_are_read_in_the_time_zone() -> None:
    h = hours("Europe/Lisbon", mon=[["09:00", "18:00"]])
    # Winter: Lisbon is UTC; summer: UTC+1, so 09:00 there is 08:00 UTC.
    assert is_open(h, utc(2026, 1, 5, 9, 0)) and not is_open(h, utc(2026, 1, 5, 8, 59))
    assert is_open(h, utc(2026, 7, 6, 8, 0)) and not is_open(h, utc(2026, 7, 6, 17, 0))
    tokyo = hours("Asia/Tokyo", mon=[["09:00", "18:00"]])
    assert is_open(tokyo, utc(2026, 1, 5, 0, 0))  # Monday 09:00 in Tokyo
    assert not is_open(tokyo, utc(2026, 1, 5, 9, 0))  # 18:00 there


def test_a_holiday_is_the_local_date_not_the_utc_one() -> None:
    every_day = {day: [["00:00", "24:00"]] for day in DAYS}
    h = hours("America/Los_Angeles", ["2026-12-25"], **every_day)
    # 25 December 03:00 UTC is still the 24th, 19:00, in Los Angeles: open.
    assert is_open(h, utc(2026, 12, 25, 3, 0))
    # Its local midnight is 08:00 UTC; the holiday lasts until the 26th's 08:00 UTC.
    assert not is_open(h, utc(2026, 12, 25, 8, 0))
    assert not is_open(h, utc(2026, 12, 26, 7, 59))
    assert is_open(h, utc(2026, 12, 26, 8, 0))
    auckland = hours("Pacific/Auckland", ["2026-12-25"], **every_day)
    assert not is_open(auckland, utc(2026, 12, 24, 11, 0))  # already the 25th there
    assert next_opening(auckland, utc(2026, 12, 24, 11, 0)) == utc(2026, 12, 25, 11, 0)


def test_next_opening() -> None:
    h = hours("Europe/Lisbon", ["2026-12-28"], mon=[["09:00", "13:00"], ["14:00", "18:00"]],
              fri=[["09:00", "17:00"]])
    # Friday evening → Monday; Monday 28 is a holiday → Friday 1 January.
    assert next_opening(h, utc(2026, 12, 25, 17, 0)) == utc(2027, 1, 1, 9, 0)
    # Lunch → the afternoon range.
    assert next_opening(h, utc(2026, 11, 23, 13, 30)) == utc(2026, 11, 23, 14, 0)
    assert next_opening(h, utc(2026, 11, 23, 10, 0)) == utc(2026, 11, 23, 10, 0)  # open now
    assert next_opening(hours("UTC"), utc(2026, 1, 1, 0, 0)) is None  # never opens
    every_day_a_holiday = [(date(2026, 1, 1) + timedelta(days=n)).isoformat()
                           for n in range(366)]
    # A year of holidays is looked past: the first Monday after it.
    assert next_opening(hours("UTC", every_day_a_holiday, mon=[["09:00", "10:00"]]),
                        utc(2026, 1, 1, 0, 0)) == utc(2027, 1, 4, 9, 0)


# ---------------------------------------------------------------------- daylight saving


def test_spring_forward_a_range_across_the_gap_is_an_hour_shorter() -> None:
    h = hours(NEW_YORK, sun=[["01:00", "03:00"]])
    minutes = open_minutes(h, utc(2026, 3, 8, 5, 0), utc(2026, 3, 8, 9, 0))
    # 01:00 EST (06:00 UTC) to 01:59 EST; the clock then shows 03:00 EDT: closed.
    assert minutes[0] == utc(2026, 3, 8, 6, 0) and minutes[-1] == utc(2026, 3, 8, 6, 59)
    assert len(minutes) == 60


def test_spring_forward_a_range_starting_in_the_gap_opens_when_the_clock_jumps() -> None:
    h = hours(NEW_YORK, sun=[["02:30", "04:00"]])
    minutes = open_minutes(h, utc(2026, 3, 8, 5, 0), utc(2026, 3, 8, 10, 0))
    # The clock jumps from 01:59:59 EST to 03:00 EDT (07:00 UTC): 03:00-04:00 is open.
    assert (minutes[0], len(minutes)) == (utc(2026, 3, 8, 7, 0), 60)
    assert next_opening(h, utc(2026, 3, 7, 12, 0)) == utc(2026, 3, 8, 7, 0)
    # A range ending in the gap: 01:30-01:59 EST only.
    ending = hours(NEW_YORK, sun=[["01:30", "02:30"]])
    assert len(open_minutes(ending, utc(2026, 3, 8, 5, 0), utc(2026, 3, 8, 9, 0))) == 30
    assert not is_open(ending, utc(2026, 3, 8, 7, 0))


def test_spring_forward_a_range_inside_the_gap_never_opens_that_day() -> None:
    h = hours(NEW_YORK, sun=[["02:00", "02:30"]])
    assert open_minutes(h, utc(2026, 3, 8, 0, 0), utc(2026, 3, 9, 0, 0)) == []
    # The next opening is the following Sunday's, 02:00 EDT.
    assert next_opening(h, utc(2026, 3, 7, 12, 0)) == utc(2026, 3, 15, 6, 0)
    # The week before, it was an ordinary half hour (02:00 EST = 07:00 UTC).
    assert next_opening(h, utc(2026, 2, 28, 12, 0)) == utc(2026, 3, 1, 7, 0)


def test_fall_back_the_repeated_hour_is_open_twice() -> None:
    h = hours(NEW_YORK, sun=[["01:00", "02:00"]])
    minutes = open_minutes(h, utc(2026, 11, 1, 4, 0), utc(2026, 11, 1, 9, 0))
    # 01:00-01:59 EDT (05:00-05:59 UTC), then 01:00-01:59 EST again (06:00-06:59 UTC).
    assert (minutes[0], minutes[-1], len(minutes)) == (
        utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 6, 59), 120)
    assert next_opening(h, utc(2026, 10, 31, 12, 0)) == utc(2026, 11, 1, 5, 0)  # the first
    # A whole day is 25 hours long on that day.
    all_day = hours(NEW_YORK, sun=[["00:00", "24:00"]])
    assert len(open_minutes(all_day, utc(2026, 11, 1, 0, 0), utc(2026, 11, 2, 12, 0))) == 25 * 60
    assert len(open_minutes(all_day, utc(2026, 3, 8, 0, 0), utc(2026, 3, 9, 12, 0))) == 23 * 60


def test_lisbon_changeover_days() -> None:
    # Lisbon 2026: forward on 29 March at 01:00 UTC (01:00 WET → 02:00 WEST), back on
    # 25 October at 01:00 UTC (02:00 WEST → 01:00 WET).
    h = hours("Europe/Lisbon", sun=[["01:00", "02:00"], ["09:00", "18:00"]])
    assert open_minutes(h, utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 3, 0)) == []
    assert is_open(h, utc(2026, 3, 29, 8, 0))  # 09:00 WEST
    assert not is_open(h, utc(2026, 3, 29, 17, 0))  # 18:00 WEST
    assert len(open_minutes(h, utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 3, 0))) == 120
    assert is_open(h, utc(2026, 10, 25, 9, 0)) and not is_open(h, utc(2026, 10, 25, 8, 59))


ZONES = ["UTC", NEW_YORK, "Europe/Lisbon", "Australia/Lord_Howe", "Asia/Kolkata",
         "Pacific/Chatham", "America/Santiago"]


def quarter(q: int) -> str:
    return f"{q * 15 // 60:02}:{q * 15 % 60:02}"


@st.composite
def weekly_hours(draw: st.DrawFn) -> OperatingHours:
    week: dict[str, list[list[str]]] = {}
    for day in DAYS:
        marks = sorted(set(draw(st.lists(st.integers(0, 96), max_size=6))))
        marks = marks[: len(marks) // 2 * 2]
        week[day] = [[quarter(a), quarter(b)]
                     for a, b in zip(marks[::2], marks[1::2], strict=True)]
    start = date(2026, 1, 1)
    holidays = draw(st.lists(st.integers(0, 500).map(
        lambda n: (start + timedelta(days=n)).isoformat()), max_size=20))
    return OperatingHours.model_validate({"time_zone": draw(st.sampled_from(ZONES)),
                                          "weekly": week, "holidays": holidays})


@settings(max_examples=150, deadline=None)
@given(weekly_hours(), st.datetimes(min_value=datetime(2026, 1, 1),
                                    max_value=datetime(2027, 6, 1), timezones=st.just(UTC)))
def test_next_opening_is_the_first_open_moment(h: OperatingHours, at: datetime) -> None:
    opening = next_opening(h, at)
    if opening is None:
        return
    assert opening >= at and is_open(h, opening)
    if opening > at:
        # Closed the second before (openings fall on whole seconds), and at the minutes
        # between: no earlier opening was skipped.
        assert not is_open(h, opening - timedelta(seconds=1))
        step = at
        while step < opening and step < at + timedelta(days=3):
            assert not is_open(h, step)
            step += timedelta(minutes=7)


def test_is_open_follows_the_local_wall_clock() -> None:
    h = OperatingHours.model_validate({"time_zone": NEW_YORK, "weekly": {
        day: [["08:15", "12:00"], ["13:00", "17:45"]] for day in DAYS}})
    zone = ZoneInfo(NEW_YORK)
    moment = utc(2026, 3, 1, 0, 0)
    while moment < utc(2026, 3, 15, 0, 0):
        local = moment.astimezone(zone)
        minute = local.hour * 60 + local.minute
        expected = 8 * 60 + 15 <= minute < 12 * 60 or 13 * 60 <= minute < 17 * 60 + 45
        assert is_open(h, moment) is expected, local
        moment += timedelta(minutes=5)


# ------------------------------------------------------------------ routing and time zone


def test_time_open_in_routing_rules() -> None:
    rules = TypeAdapter(RoutingRules).validate_python([{"name": "hours", "rules": [
        {"when": {"field": "time.open", "op": "eq", "value": False}, "queue_id": "q_night"},
        {"when": {"field": "time.open", "op": "eq", "value": True}, "queue_id": "q_day"}]}])
    at = utc(2026, 11, 25, 10, 0)
    assert classify(rules, RoutingFacts(at=at)).queue_id == "q_day"  # no hours: open
    assert classify(rules, RoutingFacts(at=at, open=False)).queue_id == "q_night"
    for when, message in [
        ({"field": "time.open", "op": "eq", "value": "yes"}, "true or false"),
        ({"field": "time.open", "op": "eq", "value": 1}, "true or false"),
        ({"field": "time.open", "op": "contains", "value": "t"}, "use eq, ne, in or exists"),
        ({"field": "time.open", "op": "gte", "value": 1}, "use eq, ne, in or exists"),
    ]:
        with pytest.raises(ValidationError, match=message):
            TypeAdapter(RoutingRules).validate_python(
                [{"name": "r", "rules": [{"when": when, "queue_id": "q"}]}])
    ne = TypeAdapter(RoutingRules).validate_python([{"name": "r", "rules": [
        {"when": {"field": "time.open", "op": "in", "value": [False]}, "queue_id": "q"}]}])
    assert classify(ne, RoutingFacts(at=at, open=False)).queue_id == "q"


def test_one_time_zone_for_hours_and_rules() -> None:
    lisbon = hours("Europe/Lisbon", mon=[["09:00", "18:00"]])
    # Created with hours and no time_zone: the hours' zone is the workstream's.
    assert one_time_zone({"operating_hours": lisbon}, None)["time_zone"] == "Europe/Lisbon"
    # Both given and different: refused, naming time_zone.
    with pytest.raises(Invalid) as refused:
        one_time_zone({"operating_hours": lisbon, "time_zone": "UTC"}, None)
    assert refused.value.problems[0][0] == "time_zone"
    # A time zone alone moves the stored hours to it.
    moved = one_time_zone({"time_zone": "Asia/Tokyo"}, lisbon)["operating_hours"]
    assert moved.time_zone == "Asia/Tokyo" and moved.weekly == lisbon.weekly
    # Without hours, nothing to keep together; removing them keeps the time zone.
    assert one_time_zone({"time_zone": "Asia/Tokyo"}, None) == {"time_zone": "Asia/Tokyo"}
    assert one_time_zone({"operating_hours": None}, lisbon) == {"operating_hours": None}
    base = {"name": "S", "page_id": "1", "fallback_queue_id": "q"}
    stored_before = WorkstreamCreate.model_validate({**base, "time_zone": "Europe/Berlin"})
    assert routing_time_zone(stored_before) == "Europe/Berlin"
    with_hours = WorkstreamCreate.model_validate({**base, "operating_hours": lisbon})
    assert routing_time_zone(with_hours) == "Europe/Lisbon"


def test_survey_forms() -> None:
    base = {"name": "S", "page_id": "1", "fallback_queue_id": "q"}
    # As stored before the rating form: no kind → the link form.
    legacy = WorkstreamCreate.model_validate(
        {**base, "post_conversation_survey": {"message": "How did we do?",
                                              "url": "https://s.example/1"}})
    assert isinstance(legacy.post_conversation_survey, LinkSurvey)
    assert legacy.model_dump(mode="json")["post_conversation_survey"] == {
        "kind": "link", "message": "How did we do?", "url": "https://s.example/1"}
    rating = WorkstreamCreate.model_validate({**base, "post_conversation_survey": {
        "kind": "rating", "question": "How did we do?", "comment_prompt": "Tell us more"}})
    assert isinstance(rating.post_conversation_survey, RatingSurvey)
    assert rating.post_conversation_survey.scale == 5
    assert problems({"post_conversation_survey": {"kind": "rating"}}) == {
        "post_conversation_survey.question": "Field required"}
    assert "post_conversation_survey.scale" in problems({"post_conversation_survey": {
        "kind": "rating", "question": "?", "scale": 10}})
    assert "post_conversation_survey.url" in problems({"post_conversation_survey": {
        "kind": "link", "message": "m", "url": "http://insecure.example"}})
    assert "post_conversation_survey.kind" in problems({"post_conversation_survey": {
        "kind": "stars", "question": "?"}})
    assert "post_conversation_survey.url" in problems({"post_conversation_survey": {
        "kind": "rating", "question": "?", "url": "https://s.example"}})
