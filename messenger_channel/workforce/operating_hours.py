"""A workstream's business hours: weekly hours, holidays and the time zone they are read in.

    hours = OperatingHours(time_zone="Europe/Lisbon",
                           weekly={"mon": [["09:00", "13:00"], ["14:00", "18:00"]]},
                           holidays=["2026-12-25"])
    is_open(hours, datetime(2026, 3, 30, 8, 30, tzinfo=UTC))   # True: 09:30 in Lisbon
    next_opening(hours, some_moment)                           # when it next opens, or None

Hours are wall-clock times in the workstream's time zone, as a sign on the door reads them:
``["09:00", "18:00"]`` is open while the local clock shows 09:00 to 17:59 (``"24:00"`` ends a
range at midnight). Around a daylight-saving change that follows the clock, not the elapsed
time: on the day the clocks go forward the skipped hour (02:00-03:00 in New York) does not
exist, so a range across it is an hour shorter and one inside it never opens; on the day they
go back the repeated hour (01:00-02:00) happens twice and is open both times if a range
covers it. A holiday is a date in that time zone: closed from its local midnight to the next.
A workstream without operating hours is always open. Pure: no I/O.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from messenger_channel.routing.rules import TimeZoneName

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # ISO order: index 0 is Monday
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MAX_RANGES_PER_DAY = 10
MAX_HOLIDAYS = 366
DAY_MINUTES = 24 * 60
# How far next_opening looks: a year of holidays and then a week.
_SEARCH_DAYS = MAX_HOLIDAYS + 8

_CLOCK_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"


def minutes_of(clock: str) -> int:
    """"09:30" → 570; "24:00" → 1440."""
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _range(value: list[str]) -> list[str]:
    start, end = value
    if start == "24:00":
        raise ValueError("24:00 only ends a range; a day's first minute is 00:00")
    if minutes_of(start) >= minutes_of(end):
        raise ValueError(f"a range starts before it ends ({start} is not before {end}); "
                         "split hours across midnight into two days")
    return value


def _in_order(ranges: list[list[str]]) -> list[list[str]]:
    for before, after in itertools.pairwise(ranges):
        if minutes_of(after[0]) < minutes_of(before[1]):
            problem = ("overlaps" if minutes_of(after[0]) >= minutes_of(before[0])
                       else "comes before")
            raise ValueError(f"ranges are in order and do not overlap: {after[0]}-{after[1]} "
                             f"{problem} {before[0]}-{before[1]}")
    return ranges


def _real_date(text: str) -> str:
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text} is not a date (YYYY-MM-DD)") from None
    return text


def _distinct_days(holidays: list[str]) -> list[str]:
    return sorted(set(holidays))


Clock = Annotated[str, StringConstraints(pattern=_CLOCK_PATTERN)]
TimeRange = Annotated[list[Clock], Field(min_length=2, max_length=2,
                                         description='["HH:MM", "HH:MM"], start before end; '
                                                     '"24:00" may end a range'),
                      AfterValidator(_range)]
DayHours = Annotated[list[TimeRange], Field(max_length=MAX_RANGES_PER_DAY),
                     AfterValidator(_in_order)]
Holiday = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"),
                    AfterValidator(_real_date)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeeklyHours(_Strict):
    """Each day's open ranges, in order; a day left out (or empty) is closed."""

    mon: DayHours = Field(default_factory=list)
    tue: DayHours = Field(default_factory=list)
    wed: DayHours = Field(default_factory=list)
    thu: DayHours = Field(default_factory=list)
    fri: DayHours = Field(default_factory=list)
    sat: DayHours = Field(default_factory=list)
    sun: DayHours = Field(default_factory=list)

    def on(self, day: date) -> list[list[str]]:
        ranges: list[list[str]] = getattr(self, DAYS[day.weekday()])
        return ranges


class OperatingHours(_Strict):
    time_zone: TimeZoneName = Field(
        description="IANA name; the hours, the holidays and the routing rules' time.* fields "
                    "are read in it")
    weekly: WeeklyHours = Field(description="mon..sun: open ranges [start, end] in local time")
    holidays: Annotated[list[Holiday], Field(max_length=MAX_HOLIDAYS),
                        AfterValidator(_distinct_days)] = Field(
        default_factory=list, description="local dates (YYYY-MM-DD) closed all day")


def local_time(hours: OperatingHours, at: datetime) -> datetime:
    """``at`` on the workstream's clock (a naive ``at`` is UTC)."""
    moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(hours.time_zone))


def _open_on_clock(hours: OperatingHours, local: datetime) -> bool:
    if local.date().isoformat() in hours.holidays:
        return False
    minute = local.hour * 60 + local.minute
    return any(minutes_of(start) <= minute < minutes_of(end)
               for start, end in hours.weekly.on(local.date()))


def is_open(hours: OperatingHours | None, at: datetime) -> bool:
    """Whether the workstream is open at ``at``; always, without operating hours."""
    if hours is None:
        return True
    try:
        local = local_time(hours, at)
    except OverflowError:  # within hours of year 1 or 9999: keep the given wall clock
        local = at
    return _open_on_clock(hours, local)


def _first_instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The first moment the local clock shows ``minute`` of ``day`` or later: the wall time
    itself (its first occurrence, when the clocks go back), or, when it falls in the hour the
    clocks skip, the end of that gap."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    first = wall.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return first.astimezone(UTC)
    # Skipped: one reading of the wall time lies before the gap, the other after it; the
    # clock passes the wall time where it jumps. Found to the second by halving.
    readings = sorted(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    before, after = readings
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    floor = after.replace(microsecond=0)  # transitions fall on whole seconds
    return floor if floor.astimezone(zone).replace(tzinfo=None) >= wall else (
        floor + timedelta(seconds=1))


def next_opening(hours: OperatingHours | None, at: datetime) -> datetime | None:
    """``at`` when open then; else the first later moment it opens (UTC), or None when no
    range opens within a year and a week (no weekly hours, or holidays all the way)."""
    if is_open(hours, at):
        return at
    assert hours is not None
    zone = ZoneInfo(hours.time_zone)
    moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    try:
        today = local_time(hours, moment).date()
    except OverflowError:
        return None
    for offset in range(_SEARCH_DAYS):
        day = today + timedelta(days=offset)
        if day.isoformat() in hours.holidays:
            continue
        for start, _ in hours.weekly.on(day):
            opening = _first_instant(day, minutes_of(start), zone)
            # A range wholly inside a skipped hour never opens; a range of a day in the
            # past of ``at`` is over.
            if opening > moment and _open_on_clock(hours, opening.astimezone(zone)):
                return opening
    return None
