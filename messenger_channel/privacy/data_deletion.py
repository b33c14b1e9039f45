"""Meta's data deletion request callback (``POST /api/facebook/data-deletion/{account_id}``).

Meta posts a ``signed_request`` naming an app-scoped user id when someone removes the app or
asks for their data to be deleted. The request is verified with the account's app secret
(``signed_request``); the user's PSIDs on this account's pages are found with Graph's ID
matching API (``/{asid}/ids_for_pages``); an erasure starts for each customer; the answer is
``{url, confirmation_code}``, the URL a status page that shows states and counts only.

============== ============ ============== =============================================
table          PartitionKey RowKey         why
============== ============ ============== =============================================
DataDeletions  account id   confirmation   the erasures a request started, for its
                            code           status page (no user id, no PSID)
============== ============ ============== =============================================
"""

from __future__ import annotations

import html
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs

from pydantic import Field

from messenger_channel.audit.log import Actor
from messenger_channel.errors import Missing
from messenger_channel.facebook.graph_errors import GraphError
from messenger_channel.privacy.erasure_records import ErasureRecords, request_erasure
from messenger_channel.privacy.signed_request import BadSignedRequest, parse_signed_request
from messenger_channel.privacy.subjects import customer_pseudonym
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.secrets import SecretStoreError
from messenger_channel.services import Services
from messenger_channel.storage.tables import Entity, Table, TableStore

log = logging.getLogger(__name__)

META = Actor(kind="system", id="meta_data_deletion")


class DataDeletion(Entity):
    account_id: str
    code: str
    erasure_ids: list[str] = Field(default_factory=list)
    requested_at: datetime

    def partition_key(self) -> str:
        return self.account_id

    def row_key(self) -> str:
        return self.code


def deletions(store: TableStore) -> Table[DataDeletion]:
    return store.table("DataDeletions", DataDeletion)


@dataclass(frozen=True)
class DeletionAnswer:
    url: str
    confirmation_code: str


class AppUnavailable(Exception):
    """The account's app secret cannot be read, or Graph cannot be asked: Meta retries."""


def handle_deletion_request(services: Services, account_id: str, signed: str,
                            status_base_url: str) -> DeletionAnswer:
    """Raises ``Missing`` (unknown account), ``BadSignedRequest`` (403: nothing erased),
    ``AppUnavailable``."""
    channels = ChannelTables(services.tables)
    account = channels.account(account_id)
    if account is None or account.deleting:
        raise Missing.of(f"account {account_id}")
    try:
        app_secret = services.secrets.get(account.app_secret_ref)
    except SecretStoreError as error:
        raise AppUnavailable("the app secret cannot be read") from error
    request = parse_signed_request(signed, app_secret, services.clock.now())
    try:
        matches = services.graph.ids_for_pages(request.user_id, app_id=account.app_id,
                                               app_secret=app_secret)
    except GraphError as error:
        raise AppUnavailable("Graph's ID matching API failed") from error
    pages = {page.page_id for page in channels.pages_of(account.id)}
    erasure_ids = [
        request_erasure(services, match.page.id, match.id, META,
                        customer_pseudonym(match.page.id, match.id)).id
        for match in matches if match.page.id in pages]
    code = secrets.token_hex(10)
    deletions(services.tables).create(DataDeletion(
        account_id=account.id, code=code, erasure_ids=erasure_ids,
        requested_at=services.clock.now()))
    return DeletionAnswer(url=f"{status_base_url.rstrip('/')}/{account.id}/{code}",
                          confirmation_code=code)


def status_page(services: Services, account_id: str, code: str) -> str | None:
    """A plain HTML page: the request's state, no customer data. None: unknown code."""
    found = deletions(services.tables).get(account_id, code) if code.isalnum() else None
    if found is None:
        return None
    records = ErasureRecords(services.tables)
    states = [record.state if record else "pending"
              for record in (records.get(erasure_id) for erasure_id in found.erasure_ids)]
    if not states:
        summary = "We hold no data about you in this channel; nothing needed deleting."
    elif all(state == "done" for state in states):
        summary = "Your data has been deleted."
    elif any(state == "failed" for state in states):
        summary = "The deletion met a problem; our operators have been told and will finish it."
    else:
        summary = "The deletion of your data is in progress."
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>Data deletion request</title></head><body>"
            "<h1>Data deletion request</h1>"
            f"<p>Confirmation code: <code>{html.escape(code)}</code></p>"
            f"<p>Received: {found.requested_at:%Y-%m-%d %H:%M} UTC</p>"
            f"<p>{html.escape(summary)}</p></body></html>")


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str
    content_type: str


def _json(status: int, payload: dict[str, str]) -> HttpAnswer:
    return HttpAnswer(status, json.dumps(payload), "application/json")


def answer_callback(services: Services, account_id: str, body: bytes) -> HttpAnswer:
    """The POST route's answer: 200 ``{url, confirmation_code}``, 403 when the signed request
    does not verify (nothing is erased), 404 unknown account, 400 no ``signed_request``, 503
    when Graph or the secret store cannot be reached (Meta retries)."""
    try:
        form = parse_qs(body.decode("ascii"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        form = {}
    signed = form.get("signed_request", [])
    if len(signed) != 1:
        return _json(400, {"error": "bad_request", "message": "send one signed_request field"})
    base = f"{services.settings.public_base_url}/api/facebook/data-deletion"
    try:
        answer = handle_deletion_request(services, account_id, signed[0], base)
    except Missing as refusal:
        return _json(404, {"error": refusal.code, "message": refusal.message})
    except BadSignedRequest as bad:
        log.warning("data deletion request refused", extra={"account_id": account_id,
                                                            "reason": str(bad)})
        return _json(403, {"error": "forbidden", "message": "the signed_request does not verify"})
    except AppUnavailable as error:
        return _json(503, {"error": "unavailable", "message": str(error)})
    return _json(200, {"url": answer.url, "confirmation_code": answer.confirmation_code})


def answer_status(services: Services, account_id: str, code: str) -> HttpAnswer:
    page = status_page(services, account_id, code)
    if page is None:
        return HttpAnswer(404, "<!doctype html><title>Not found</title><p>Unknown request.</p>",
                          "text/html")
    return HttpAnswer(200, page, "text/html")
