"""The tests' one polling helper: what it returns, when it gives up and what it says then."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.support.eventually import StillWaiting, eventually


def test_returns_the_first_truthy_value() -> None:
    values = iter([None, [], ["item"], ["later"]])
    assert eventually(lambda: next(values), interval=0) == ["item"]


def test_returns_the_value_the_predicate_accepts_and_nudges_before_each_try() -> None:
    nudged: list[int] = []
    counter = itertools.count()
    seen = eventually(lambda: len(nudged), lambda n: n >= 3, interval=0,
                      nudge=lambda: nudged.append(next(counter)))
    assert (seen, nudged) == (3, [0, 1, 2])


def test_gives_up_naming_what_it_waited_for_and_the_last_value_seen() -> None:
    counter = itertools.count()
    with pytest.raises(StillWaiting, match=r"still waiting for the count after 0.05s "
                                           r"\(\d+ tries\); last seen: \d+") as raised:
        eventually(lambda: next(counter), lambda n: n < 0, timeout=0.05, interval=0.01,
                   what="the count")
    assert isinstance(raised.value, AssertionError)


def test_tries_once_even_without_time_left() -> None:
    assert eventually(lambda: "ready", timeout=0) == "ready"


def test_ignores_only_the_errors_it_is_told_to_and_reports_the_last() -> None:
    attempts: Iterator[Exception | str] = iter([ConnectionError("refused"),
                                                ConnectionError("refused again"), "up"])

    def probe() -> str:
        attempt = next(attempts)
        if isinstance(attempt, Exception):
            raise attempt
        return attempt

    def down() -> str:
        raise ConnectionError("down")

    assert eventually(probe, interval=0, ignoring=(ConnectionError,)) == "up"
    with pytest.raises(StillWaiting, match="last seen: ConnectionError: down"):
        eventually(down, timeout=0.02, interval=0.01, ignoring=(ConnectionError,))
    with pytest.raises(ConnectionError):  # not ignored: out at once
        eventually(down, ignoring=(TimeoutError,))
