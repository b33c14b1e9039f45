"""Live updates in the console (API.md, "Live updates"): the server's hints over the WebSocket
bring an offer and a message without waiting for a poll; a socket that drops shows
"Reconnecting…", comes back with a fresh negotiate and misses nothing; a token is renewed
before it ends without the agent seeing a drop.

While the socket is up the console polls only once a minute, so whatever shows within a few
seconds came by a hint. The socket is reached through Playwright's WebSocket routing, which
passes every frame on unchanged and lets the test cut the connection as a network would."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, WebSocketRoute, expect

from tests.browser.desk import Team, customer_writes, make_supervisor, nudge, sign_in
from tests.support.eventually import eventually
from tests.support.product import Product

SOCKET = re.compile(r"/client/hubs/")
NEGOTIATE = "**/api/agent/negotiate"
# Well under the minute between safety-net polls (and the 15 s of the fallback): a hint's.
HINTED_MS = 8_000


@dataclass
class Wire:
    """The page's sockets as the test sees them; ``held`` negotiations wait for release."""
    sockets: list[WebSocketRoute] = field(default_factory=list)
    negotiations: int = 0
    hold: bool = False
    held: list[Route] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def wire(page: Page) -> Iterator[Wire]:
    """Routes the console's socket through the test (frames forwarded both ways untouched)
    and counts its negotiations; any console error or page error fails the test."""
    seen = Wire()
    errors: list[str] = []

    def on_socket(ws: WebSocketRoute) -> None:
        ws.connect_to_server()
        seen.sockets.append(ws)

    def on_negotiate(route: Route) -> None:
        seen.negotiations += 1
        if seen.hold:
            seen.held.append(route)
        else:
            route.continue_()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{message.text} ({message.location.get('url')})")

    page.route_web_socket(SOCKET, on_socket)
    page.route(NEGOTIATE, on_negotiate)
    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    yield seen
    assert errors == [], errors


def pumped(page: Page) -> None:
    """For ``eventually``: Playwright runs the test's route handlers only while the test is in
    one of its calls, so the wait between tries is the page's, not ``time.sleep``."""
    page.wait_for_timeout(100)


def live_state(page: Page) -> Any:
    return page.get_by_role("status").filter(has_text=re.compile("Live|Reconnecting|Connecting"))


def signed_in_live(page: Page, product: Product, key: str, name: str) -> None:
    sign_in(page, product, key)
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()
    expect(page.locator("#live-state")).to_have_text("Live")


def test_an_offer_and_a_message_come_without_a_poll(
        page: Page, product: Product, team: Team, wire: Wire) -> None:
    signed_in_live(page, product, team.ann.key, team.ann.name)
    state = page.locator("#live-state")
    expect(state).to_have_attribute("role", "status")
    expect(live_state(page)).to_have_text("Live")  # in words, not a colour alone

    psid = customer_writes(product, team, "Ines", "Duarte", "Is my parcel lost?")
    offer = page.locator(".inbox-item", has_text="Ines Duarte")
    expect(offer).to_contain_text("offered to you", timeout=HINTED_MS)
    expect(page.locator("#announce")).to_contain_text("offered to you")

    offer.click()
    page.get_by_role("button", name="Accept").click()
    expect(page.locator(".message.in")).to_contain_text("Is my parcel lost?")

    # The same customer again: a message hint reads the open transcript.
    customer_writes(product, team, "Ines", "Duarte", "It was due on Monday.", psid=psid)
    expect(page.locator(".message.in", has_text="It was due on Monday.")).to_be_visible(
        timeout=HINTED_MS)

    # The agent's reply: its delivery tick follows the sender's work, by a hint too.
    page.get_by_label("Reply").fill("Let me look it up.")
    page.get_by_label("Reply").press("Enter")
    reply = page.locator(".message.out", has_text="Let me look it up.")
    expect(reply).to_be_visible()
    product.run_function("sender")
    expect(reply.locator(".status")).to_have_attribute(
        "data-status", re.compile("delivered|read"), timeout=HINTED_MS)
    assert len(wire.sockets) == 1 and wire.negotiations == 1


def test_a_dropped_socket_reconnects_and_misses_nothing(
        page: Page, product: Product, team: Team, wire: Wire) -> None:
    signed_in_live(page, product, team.ann.key, team.ann.name)
    psid = customer_writes(product, team, "Tomas", "Novak", "My card was declined.")
    offer = page.locator(".inbox-item", has_text="Tomas Novak")
    expect(offer).to_be_visible(timeout=HINTED_MS)
    offer.click()
    page.get_by_role("button", name="Accept").click()
    expect(page.locator(".message.in")).to_contain_text("My card was declined.")

    # The network drops the socket; negotiations hang until the test lets them through.
    wire.hold = True
    wire.sockets[-1].close(code=1001, reason="network gone")
    expect(page.locator("#live-state")).to_have_text("Reconnecting…")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "reconnecting")

    # Meanwhile the customer writes, and a new customer's offer comes.
    customer_writes(product, team, "Tomas", "Novak", "Any news?", psid=psid)
    customer_writes(product, team, "Lina", "Berg", "Hello from the outage.")
    eventually(lambda: wire.held, nudge=lambda: pumped(page), interval=0,
               what="a fresh negotiate after the drop")
    negotiated_before = wire.negotiations

    # The network is back: the held negotiation goes through, a new socket opens, and the
    # console reads what it missed at once (not at its next poll).
    wire.hold = False
    for route in wire.held:
        route.continue_()
    wire.held.clear()
    expect(page.locator("#live-state")).to_have_text("Live", timeout=HINTED_MS)
    expect(page.locator(".message.in", has_text="Any news?")).to_be_visible(timeout=HINTED_MS)
    expect(page.locator(".inbox-item", has_text="Lina Berg")).to_be_visible(timeout=HINTED_MS)
    assert len(wire.sockets) == 2 and wire.negotiations >= negotiated_before >= 2

    # And it is live again: the next offer comes by a hint.
    customer_writes(product, team, "Omar", "Haddad", "After the outage.")
    expect(page.locator(".inbox-item", has_text="Omar Haddad")).to_be_visible(timeout=HINTED_MS)


def test_a_token_is_renewed_before_it_ends_without_a_drop(
        page: Page, product: Product, team: Team, wire: Wire) -> None:
    # The server's tokens last an hour; here each answer says it ends in 8 seconds.
    page.unroute(NEGOTIATE)

    def short(route: Route) -> None:
        wire.negotiations += 1
        answer = route.fetch()
        body = answer.json()
        body["expires_at"] = (datetime.now(UTC) + timedelta(seconds=8)).isoformat()
        route.fulfill(response=answer, json=body)

    page.route(NEGOTIATE, short)
    sign_in(page, product, team.ann.key)
    expect(page.locator("#live-state")).to_have_text("Live")
    page.evaluate("""() => {
        window.liveStates = [];
        new MutationObserver(() => window.liveStates.push(
            document.getElementById('live-state').dataset.state))
          .observe(document.getElementById('live-state'), { attributes: true, childList: true });
    }""")
    eventually(lambda: len(wire.sockets), lambda n: n >= 2, timeout=20,
               nudge=lambda: pumped(page), interval=0,
               what="a second socket before the first token ends")
    customer_writes(product, team, "Aiko", "Mori", "After the renewal.")
    expect(page.locator(".inbox-item", has_text="Aiko Mori")).to_be_visible(timeout=HINTED_MS)
    assert "reconnecting" not in page.evaluate("window.liveStates")
    assert wire.negotiations >= 2


def test_the_supervisor_tables_follow_the_queue(
        page: Page, product: Product, team: Team, wire: Wire) -> None:
    sue = make_supervisor(product, team)
    # Bob is away: Billing's customers wait, and the waiting count is the supervisor's to see.
    team.bob.api.put("/presence", json={"presence": "away"}).raise_for_status()
    sign_in(page, product, sue.key)
    expect(page.locator("#live-state")).to_have_text("Live")
    row = page.locator(f"#sv-queues tr[data-queue='{team.front_desk['id']}']")
    expect(row).to_be_visible()
    waiting_before = int(row.locator("td").first.inner_text())
    team.ann.api.put("/presence", json={"presence": "away"}).raise_for_status()
    customer_writes(product, team, "Zoe", "Park", "Anyone there?")
    nudge(product)
    expect(row.locator("td").first).to_have_text(str(waiting_before + 1), timeout=HINTED_MS)
    sue.api.close()
