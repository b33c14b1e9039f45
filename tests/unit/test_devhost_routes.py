from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devhost.loader import FunctionLoadError
from devhost.routes import RouteTemplate
from devhost.timer_runner import next_occurrence


def test_parameters_optional_constraints_and_catch_all() -> None:
    assert RouteTemplate("facebook/webhook/{account_id}").match("facebook/webhook/a1") == {
        "account_id": "a1"
    }
    assert RouteTemplate("facebook/webhook/{account_id}").match("facebook/webhook/a1/x") is None
    assert RouteTemplate("items/{id:int}").match("items/12") == {"id": "12"}
    assert RouteTemplate("items/{id:int}").match("items/x") is None
    assert RouteTemplate("items/{id?}").match("items") == {}
    assert RouteTemplate("manage/{*path}").match("manage/accounts/1/pages") == {
        "path": "accounts/1/pages"
    }
    assert RouteTemplate("manage/{*path}").match("manage") == {}
    assert RouteTemplate("health").match("HEALTH/") == {}


@given(
    st.text(
        alphabet=st.characters(blacklist_characters="/?#", blacklist_categories=("Cs", "Cc")),
        min_size=1,
    )
)
def test_any_segment_value_round_trips(value: str) -> None:
    assert RouteTemplate("a/{x}/b").match(f"a/{value}/b") == {"x": value}


def test_first_segment_is_what_the_host_checks() -> None:
    assert RouteTemplate("/admin/x/").first_segment == "admin"


def test_ncrontab_has_six_fields_with_seconds_first() -> None:
    start = datetime(2026, 11, 25, 1, 2, 3, tzinfo=UTC)
    assert next_occurrence("0 0 */6 * * *", start) == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    assert next_occurrence("*/10 * * * * *", start) == datetime(2026, 11, 25, 1, 2, 10, tzinfo=UTC)
    with pytest.raises(FunctionLoadError):
        next_occurrence("0 */6 * * *", start)
    with pytest.raises(FunctionLoadError):
        next_occurrence("0 0 99 * * *", start)
