"""A customer's hostile files, opened from the console, run nothing (issue 20, point 4).

The simulator hosts a ``page.html`` and a ``drawing.svg`` whose script would leave a mark on
the console's origin (``localStorage['customer-script']``, ``window.opener.customerScript``).
The agent opens each attachment's link as "Open link in new tab" does: a navigation the
browser starts itself, which a blob: URL of a page or an SVG would render on the console's
origin, where the agent's key sits in sessionStorage.
"""

from __future__ import annotations

import contextlib
from typing import Any

from playwright.sync_api import Download, Page
from playwright.sync_api import Error as PlaywrightError

from tests.browser.desk import Team, inbox_item, nudge, sign_in
from tests.support.eventually import eventually
from tests.support.product import Product, new_id


def test_a_customers_html_and_svg_run_nothing_when_opened_from_the_console(
        page: Page, product: Product, team: Team) -> None:
    psid = new_id()
    product.simulator.put_user(psid, team.page_id, first_name="Mallory", last_name="Files")
    for name in ("page.html", "drawing.svg"):
        assert product.simulator.say(team.account_id, team.page_id, psid,
                                     attachment={"type": "file", "name": name})["ok"]
    product.run_function("router")
    sign_in(page, product, team.ann.key)
    inbox_item(page, product, "Mallory Files").click()

    opened = page.locator("#messages .attachment").locator("a[href], img[src]")

    def shown() -> list[str]:
        urls = [opened.nth(i).get_attribute("href") or opened.nth(i).get_attribute("src")
                for i in range(opened.count())]
        return [u for u in urls if u]

    urls = eventually(shown, lambda found: len(found) == 2, nudge=lambda: nudge(product),
                      what="both attachments shown")
    for url in urls:
        assert url.startswith("blob:")
        tab, downloads = open_in_new_tab(page, url)
        marks: dict[str, Any] = page.evaluate(
            "() => ({stored: localStorage.getItem('customer-script'),"
            " opener: window.customerScript ?? null})")
        assert marks == {"stored": None, "opener": None}, f"{url} ran script: {marks}"
        eventually(lambda: downloads, what=f"{url} handed over as a download")  # noqa: B023
        tab.close()


def open_in_new_tab(page: Page, url: str) -> tuple[Page, list[Download]]:
    """The tab and the downloads it started, once its navigation has ended."""
    tab = page.context.new_page()
    downloads: list[Download] = []

    def keep(download: Download) -> None:
        downloads.append(download)

    tab.on("download", keep)
    # A file handed over as a download ends the navigation with an error: expected.
    with contextlib.suppress(PlaywrightError):
        tab.goto(url)
    return tab, downloads
