"""Who a conversation may be offered to, and in which order (``offer_choice``); pure."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from messenger_channel.conversations.models import AgentLoad, Reservation
from messenger_channel.conversations.offer_choice import eligible_agents, push_order

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
METHODS = ("highest_capacity", "round_robin", "most_idle")
ALLOWED = ("available", "busy")


@dataclass(frozen=True)
class Agent:
    id: str
    capacity: int = 100
    presence: str = "available"
    queue_ids: list[str] = field(default_factory=lambda: ["q"])


def load(agent_id: str, used: int = 0, *, holds: str | None = None,
         offered: int | None = None, assigned: int | None = None) -> AgentLoad:
    """``used`` units on other conversations; ``holds``: a reservation of 10 for that one;
    ``offered``/``assigned``: minutes after T0."""
    reservations = {} if not used else {"other": Reservation(units=used, at=T0)}
    if holds is not None:
        reservations[holds] = Reservation(units=10, at=T0)
    return AgentLoad(
        agent_id=agent_id, reservations=reservations,
        last_offered_at=None if offered is None else T0 + timedelta(minutes=offered),
        last_assigned_at=None if assigned is None else T0 + timedelta(minutes=assigned))


def ids(agents: list[Agent]) -> list[str]:
    return [agent.id for agent in agents]


def eligible(agents: list[Agent], loads: list[AgentLoad], method: str = "highest_capacity",
             *, units: int = 10, queue_id: str | None = "q") -> list[Agent]:
    return eligible_agents(agents, {x.agent_id: x for x in loads}, conversation_id="cv",
                           queue_id=queue_id, units=units, allowed_presences=ALLOWED,
                           method=method)


# -- eligibility --------------------------------------------------------------------------

def test_only_members_of_the_queue_in_an_allowed_presence_with_room() -> None:
    agents = [Agent("a"), Agent("other-queue", queue_ids=["q2"]),
              Agent("away", presence="away"), Agent("offline", presence="offline"),
              Agent("busy", presence="busy"), Agent("full", capacity=20),
              Agent("exact", capacity=20)]
    loads = [load("full", 11), load("exact", 10)]
    assert sorted(ids(eligible(agents, loads))) == ["a", "busy", "exact"]


def test_an_unclassified_conversation_goes_to_nobody() -> None:
    assert eligible([Agent("a")], [], queue_id=None) == []


def test_an_agent_holding_its_reservation_stays_eligible_when_full_and_comes_first() -> None:
    agents = [Agent("free"), Agent("holder", capacity=10)]
    assert ids(eligible(agents, [load("holder", holds="cv")])) == ["holder", "free"]
    for method in METHODS:
        assert ids(eligible(agents, [load("holder", holds="cv")], method))[0] == "holder"


def test_highest_capacity_prefers_most_free_then_offered_longest_ago() -> None:
    agents = [Agent("a"), Agent("b"), Agent("c"), Agent("d", capacity=50)]
    loads = [load("a", 30, offered=1), load("b", 10, offered=5), load("c", 10, offered=2),
             load("d", 0, offered=0)]
    assert ids(eligible(agents, loads)) == ["c", "b", "a", "d"]


def test_never_offered_counts_as_longest_ago() -> None:
    agents = [Agent("a"), Agent("b")]
    assert ids(eligible(agents, [load("a", offered=1)], "round_robin")) == ["b", "a"]


def test_round_robin_prefers_offered_longest_ago_whatever_the_load() -> None:
    agents = [Agent("a"), Agent("b"), Agent("c")]
    loads = [load("a", 0, offered=3), load("b", 80, offered=1), load("c", 40, offered=2)]
    assert ids(eligible(agents, loads, "round_robin")) == ["b", "c", "a"]


def test_most_idle_prefers_assigned_longest_ago_then_offered_longest_ago() -> None:
    agents = [Agent("a"), Agent("b"), Agent("c")]
    loads = [load("a", assigned=1, offered=9), load("b", assigned=5, offered=0),
             load("c", assigned=1, offered=2)]
    assert ids(eligible(agents, loads, "most_idle")) == ["c", "a", "b"]


# -- push order ---------------------------------------------------------------------------

AGENTS = [Agent("a"), Agent("b"), Agent("c")]


def test_a_first_offer_goes_to_the_customers_last_agent() -> None:
    assert ids(push_order(AGENTS, first_offer=True, last_agent_id="c", previous=None)) == [
        "c", "a", "b"]


def test_affinity_only_on_the_first_offer() -> None:
    assert ids(push_order(AGENTS, first_offer=False, last_agent_id="c", previous=None)) == [
        "a", "b", "c"]


def test_an_ineligible_last_agent_changes_nothing() -> None:
    assert ids(push_order(AGENTS, first_offer=True, last_agent_id="z", previous=None)) == [
        "a", "b", "c"]


def test_an_expired_offer_passes_to_the_next_agent() -> None:
    assert ids(push_order(AGENTS, first_offer=False, last_agent_id=None, previous="a")) == [
        "b", "c", "a"]


def test_back_to_the_same_agent_only_when_alone() -> None:
    assert ids(push_order([Agent("a")], first_offer=False, last_agent_id=None,
                          previous="a")) == ["a"]


# -- properties ---------------------------------------------------------------------------

agent_ids = st.sampled_from([f"ag{i}" for i in range(8)])
agents_strategy = st.lists(
    st.builds(Agent, id=agent_ids, capacity=st.integers(1, 60),
              presence=st.sampled_from(["available", "busy", "away", "offline"]),
              queue_ids=st.lists(st.sampled_from(["q", "q2"]), max_size=2, unique=True)),
    max_size=8, unique_by=lambda agent: agent.id)
loads_strategy = st.lists(
    st.builds(load, agent_ids, used=st.integers(0, 60),
              holds=st.sampled_from([None, "cv"]), offered=st.none() | st.integers(0, 50),
              assigned=st.none() | st.integers(0, 50)),
    max_size=8, unique_by=lambda x: x.agent_id)


@given(agents_strategy, loads_strategy, st.sampled_from(METHODS), st.integers(1, 30))
def test_eligible_agents_never_exceed_capacity(
        agents: list[Agent], loads: list[AgentLoad], method: str, units: int) -> None:
    by_id = {x.agent_id: x for x in loads}
    chosen = eligible(agents, loads, method, units=units)
    assert len(set(ids(chosen))) == len(chosen)
    assert all(agent in agents for agent in chosen)
    for agent in agents:
        current = by_id.get(agent.id) or AgentLoad(agent_id=agent.id)
        holds = "cv" in current.reservations
        fits = holds or agent.capacity - current.used >= units
        expected = "q" in agent.queue_ids and agent.presence in ALLOWED and fits
        assert (agent in chosen) == expected
    holders = ["cv" in (by_id.get(a.id) or AgentLoad(agent_id=a.id)).reservations
               for a in chosen]
    assert holders == sorted(holders, reverse=True)  # reservation holders first


@given(st.lists(agent_ids, unique=True, max_size=8), st.booleans(),
       st.none() | agent_ids, st.none() | agent_ids)
def test_push_order_is_a_permutation_with_previous_last(
        names: list[str], first: bool, last_agent: str | None, previous: str | None) -> None:
    candidates = [Agent(name) for name in names]
    ordered = push_order(candidates, first_offer=first, last_agent_id=last_agent,
                         previous=previous)
    assert Counter(ids(ordered)) == Counter(names)
    if previous in names and len(names) > 1:
        assert ordered[-1].id == previous
    if first and last_agent in names and last_agent != previous:
        assert ordered[0].id == last_agent
