"""A supervisor in the console: the live tables follow a conversation from waiting to active,
filters narrow the list, the transcript shows notes and system lines, Assign moves the
conversation to another agent (a refusal in words first), Close ends it; the reports page
draws its charts and downloads the CSV. The live tables scroll inside their boxes on a phone.
axe finds nothing serious on any of it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, Route, expect

from tests.browser.desk import (
    Team,
    conversation_of,
    customer_writes,
    make_supervisor,
    overflowing,
    screenshot,
    serious_violations,
    sign_in,
)
from tests.support.product import Product

CSV_HEADER = ("key,name,conversations,closed,abandoned,transferred,median_wait_seconds,"
              "median_first_response_seconds,p90_first_response_seconds,"
              "median_handle_seconds,csat_average,csat_responses")


def table_row(page: Page, table: str, name: str) -> Locator:
    return page.locator(f"#{table} tbody tr").filter(
        has=page.get_by_role("rowheader", name=name, exact=True))


def cells(row: Locator) -> Locator:
    return row.locator("td")


def listed(page: Page) -> Locator:
    return page.locator("#sv-list tbody tr[data-id]")


LABELS = {"from_": "Created from (UTC day)", "to": "Created to (UTC day)"}


def apply_filters(tab: Page, **values: str) -> None:
    form = tab.locator("#sv-filters")
    form.get_by_role("button", name="Clear filters").click()
    for label, value in values.items():
        field = form.get_by_label(LABELS.get(label, label.capitalize()), exact=True)
        if field.evaluate("node => node.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.get_by_role("button", name="Apply filters").click()


def inbox_ids(agent_api: Any) -> set[str]:
    return {c["id"] for c in agent_api.get("/conversations").json()["items"]
            if c["state"] != "closed" and c.get("role") is not None}


def test_a_supervisor_watches_filters_assigns_and_closes(
        open_page: Callable[..., Page], product: Product, team: Team) -> None:
    sue = make_supervisor(product, team)
    # Nobody available in the Front desk: the customer waits there.
    assert team.ann.api.put("/presence", json={"presence": "offline"}).status_code == 200
    mia = customer_writes(product, team, "Mia", "Chen", "Where is my order?")
    # Cy is available but too small for a conversation (capacity 5 < 10 per conversation).
    cy = product.manage.post("/agents", json={
        "name": f"Cy {team.page_id[-4:]}", "capacity": 5, "presence": "available"}).json()

    page = open_page()
    sign_in(page, product, sue.key)
    expect(page.get_by_role("button", name="Supervisor")).to_have_attribute("aria-pressed", "true")
    queue = table_row(page, "sv-queues", team.front_desk["name"])
    expect(cells(queue).nth(0)).to_have_text("1")  # waiting
    expect(cells(queue).nth(3)).to_have_text(re.compile(r"min|minute"))  # longest wait
    expect(cells(queue).nth(4)).to_have_text("0")  # agents available
    assert serious_violations(page) == []

    # Ann comes back, is offered it and accepts: active, her capacity used.
    assert team.ann.api.put("/presence", json={"presence": "available"}).status_code == 200
    conversation = conversation_of(team.ann, mia, product)
    assert team.ann.api.post(f"/conversations/{conversation['id']}/accept").status_code == 200
    assert team.ann.api.post(f"/conversations/{conversation['id']}/notes",
                             json={"text": "Order 1234 is late."}).status_code == 201
    assert team.ann.api.put(f"/conversations/{conversation['id']}/labels",
                            json={"labels": ["late-order"]}).status_code == 200
    expect(cells(queue).nth(2)).to_have_text("1", timeout=12_000)  # active, next refresh
    expect(cells(queue).nth(0)).to_have_text("0")
    expect(cells(queue).nth(3)).to_have_text("none waiting")
    ann = table_row(page, "sv-agents", team.ann.name)
    expect(cells(ann).nth(0)).to_have_text("available")
    expect(cells(ann).nth(1)).to_have_text("10 / 100")
    expect(cells(ann).nth(2)).to_have_text("1")
    screenshot(page, "console-supervisor.png")

    # A second customer, offered to Ann: the filters tell the two apart.
    customer_writes(product, team, "Leo", "Brandt", "Do you ship to Austria?")
    page.get_by_role("button", name="Conversations").click()
    expect(page.locator(f"#sv-page option[value='{team.page_id}']")).to_have_count(1)
    # One conversation a request (the console asks for 25): "Load more" follows the cursor.
    def one_at_a_time(route: Route) -> None:
        route.continue_(url=re.sub(r"limit=\d+", "limit=1", route.request.url))
    page.route(re.compile(r".*/api/supervisor/conversations\?.*"), one_at_a_time)
    apply_filters(page, page=team.page_id)
    expect(listed(page)).to_have_count(1)
    page.get_by_role("button", name="Load more").click()
    expect(listed(page)).to_have_count(2)
    expect(listed(page).nth(1).get_by_role("button")).to_be_focused()
    page.unroute(re.compile(r".*/api/supervisor/conversations\?.*"), one_at_a_time)
    apply_filters(page, page=team.page_id, state="active")
    expect(listed(page)).to_have_count(1)
    expect(listed(page)).to_contain_text("Mia Chen")
    apply_filters(page, page=team.page_id, customer="Leo")
    expect(listed(page)).to_have_count(1)
    expect(listed(page)).to_contain_text("Leo Brandt")
    apply_filters(page, label="late-order", agent=team.ann.id)
    expect(listed(page)).to_have_count(1)
    expect(listed(page)).to_contain_text("Mia Chen")
    expect(listed(page)).to_contain_text(team.ann.name)
    apply_filters(page, queue=team.billing["id"])
    expect(page.locator("#sv-list tbody")).to_contain_text("No conversation matches.")
    created = date.fromisoformat(conversation["created_at"][:10])
    apply_filters(page, page=team.page_id, from_=str(created), to=str(created))
    expect(listed(page)).to_have_count(2)
    apply_filters(page, page=team.page_id, from_=str(created + timedelta(days=1)))
    expect(page.locator("#sv-list tbody")).to_contain_text("No conversation matches.")

    # The transcript: the customer's message, Ann's note marked as one.
    apply_filters(page, page=team.page_id)
    page.get_by_role("button", name="Mia Chen").click()
    expect(page.get_by_role("heading", name="Mia Chen")).to_be_focused()
    reader = page.locator("#sv-reader")
    expect(reader.locator(".message.in")).to_contain_text("Where is my order?")
    expect(reader.locator(".note", has_text="Order 1234 is late.")).to_contain_text("Note")
    expect(page.locator("#sv-reader-people")).to_contain_text(f"Owner: {team.ann.name}")

    # Assign: Cy cannot take it (the reason in words), Bob can.
    page.get_by_role("button", name="Assign").click()
    dialog = page.get_by_role("dialog", name="Assign the conversation")
    expect(dialog.get_by_label(team.bob.name)).to_be_visible()
    expect(dialog).to_contain_text("free capacity 100 of 100")
    assert serious_violations(page) == []
    dialog.get_by_label("Find an agent").fill(cy["name"])
    dialog.get_by_label(cy["name"]).check()
    dialog.get_by_role("button", name="Assign").click()
    expect(page.locator("#assign-error")).to_have_text(
        "That agent has no free capacity for another conversation.")
    dialog.get_by_label("Find an agent").fill(team.bob.name)
    dialog.get_by_label(team.bob.name).check()
    dialog.get_by_role("button", name="Assign").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#sv-notice")).to_contain_text(f"assigned to {team.bob.name}")
    expect(page.locator("#sv-reader-people")).to_contain_text(f"Owner: {team.bob.name}")
    expect(reader.locator(".system", has_text=f"assigned the conversation to {team.bob.name}")
           ).to_be_visible()
    assert conversation["id"] in inbox_ids(team.bob.api)
    assert conversation["id"] not in inbox_ids(team.ann.api)
    assert serious_violations(page) == []

    # Close, after a confirmation.
    page.get_by_role("button", name="Close conversation").click()
    confirm = page.get_by_role("dialog", name="Close the conversation?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Close it").click()
    expect(page.locator("#sv-reader-meta")).to_contain_text("closed")
    expect(page.get_by_role("button", name="Assign")).to_be_hidden()
    assert conversation["id"] not in inbox_ids(team.bob.api)

    # On a phone: the live tables scroll inside their boxes, the page never sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name="Live").click()
    expect(cells(queue).nth(2)).to_have_text("0")
    assert overflowing(page) == []
    boxes = page.evaluate("""() => [...document.querySelectorAll('#sv-live .table-scroll')]
        .map((box) => ({ box: box.clientWidth, table: box.scrollWidth,
                         overflow: getComputedStyle(box).overflowX }))""")
    assert all(b["box"] <= 390 and b["overflow"] == "auto" for b in boxes), boxes
    assert any(b["table"] > b["box"] for b in boxes), boxes  # wider: scrolled in its box
    assert serious_violations(page) == []
    page.get_by_role("button", name="Conversations").click()
    expect(page.locator("#sv-reader")).to_be_visible()
    assert overflowing(page) == []
    page.get_by_role("button", name="Reports").click()
    expect(page.locator("#report-charts figure")).to_have_count(3)
    assert overflowing(page) == []


def test_reports_draw_charts_and_download_the_csv(
        open_page: Callable[..., Page], product: Product, team: Team, tmp_path: Path) -> None:
    sue = make_supervisor(product, team)
    psid = customer_writes(product, team, "Ines", "Moreau", "Bonjour !")
    conversation = conversation_of(team.ann, psid, product)
    assert team.ann.api.post(f"/conversations/{conversation['id']}/accept").status_code == 200
    assert team.ann.api.post(f"/conversations/{conversation['id']}/messages",
                             json={"text": "Bonjour, je regarde."}).status_code == 202
    assert sue.api.post(f"/conversations/{conversation['id']}/close").status_code == 200

    page = open_page()
    sign_in(page, product, sue.key)
    page.get_by_role("button", name="Reports").click()
    form = page.locator("#report-form")
    expect(form.get_by_label("From (UTC day)")).not_to_have_value("")
    charts = page.locator("#report-charts figure")
    expect(charts).to_have_count(3)
    expect(charts.nth(0).locator("figcaption")).to_have_text("Conversations per day")
    expect(charts.nth(0).locator("rect.bar").first).to_be_visible()
    expect(charts.nth(1).locator("path.line").first).to_be_attached()
    for n in range(3):
        expect(charts.nth(n).locator("svg[role='img']")).to_have_attribute(
            "aria-labelledby", re.compile("caption"))
        # 14 days, each a row of the chart's own table
        expect(charts.nth(n).locator("details tbody tr")).to_have_count(14)
    expect(page.locator("#report-table tbody tr").first).to_be_visible()
    expect(page.locator("#report-status")).to_contain_text("conversation")
    assert serious_violations(page) == []
    screenshot(page, "console-reports.png")

    form.get_by_label("Group the table by").select_option("queue")
    form.get_by_role("button", name="Show report").click()
    expect(page.locator("#report-table thead th").first).to_have_text("Queue")
    expect(page.locator("#report-table tbody")).to_contain_text(team.front_desk["name"])

    with page.expect_download() as download:
        form.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert download.value.suggested_filename.startswith("report-queue-")
    text = saved.read_text(encoding="utf-8")
    assert text.startswith(CSV_HEADER), text[:200]
    assert team.front_desk["id"] in text
    expect(page.locator("#report-status")).to_contain_text("Downloaded report-queue-")
