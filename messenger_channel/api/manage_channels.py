"""``/api/manage/accounts`` and their ``pages``: the operator's channel setup."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from messenger_channel.api.auth import ManagerDep, ServicesDep
from messenger_channel.api.errors import documented
from messenger_channel.api.lists import ListPage, paginate
from messenger_channel.api.types import ApiTime
from messenger_channel.conversations.page_removal import remove_account, remove_page
from messenger_channel.conversations.removal_backlog import RemovalBacklog, conversations_to_close
from messenger_channel.privacy.retention import set_retention
from messenger_channel.provisioning.models import (
    Account,
    Page,
    ProvisioningState,
    Retention,
    TokenStatus,
)
from messenger_channel.provisioning.service import ChannelSetup
from messenger_channel.workforce.workstreams import workstream_for_page

router = APIRouter(prefix="/api/manage", tags=["channel setup"])

AppId = Annotated[str, Field(pattern=r"^\d{1,32}$", description="the Facebook App ID (digits)")]
PageId = Annotated[str, Field(pattern=r"^\d{1,32}$", description="the Facebook Page ID (digits)")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Secret = Annotated[str, Field(min_length=1, max_length=4096)]


class _Body(BaseModel):
    # A misspelt field is an error, not silently ignored: operators paste these by hand.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RetentionIn(_Body):
    """Days after a conversation closes (absent: kept); see privacy/retention.py."""

    messages_days: int | None = Field(None, ge=1, le=36500)
    attachments_days: int | None = Field(None, ge=1, le=36500)
    archive_days: int | None = Field(None, ge=1, le=36500)


class AccountCreate(_Body):
    name: Name
    app_id: AppId
    app_secret: Secret
    retention: RetentionIn | None = Field(None, description="absent or null: keep everything")


class AccountPatch(_Body):
    name: Name | None = None
    app_secret: Secret | None = Field(None, description="rotates the app secret")
    retention: RetentionIn | None = Field(None, description="null: keep everything")


# "deleting": deleted, shown until its pages are Deprovisioned; then it is gone (404).
AccountState = Literal["active", "deleting"]


def account_state(account: Account) -> AccountState:
    return "deleting" if account.deleting else "active"


class AccountOut(BaseModel):
    id: str
    name: str
    app_id: str
    callback_url: str
    verify_token: str
    state: AccountState
    retention: Retention | None = None
    conversations_to_close: int = Field(description=(
        "open conversations of its removed pages still to be closed (the page_removals timer "
        "closes them); 0 when none"))
    created_at: ApiTime
    updated_at: ApiTime


class PageCreate(_Body):
    page_id: PageId
    name: Name
    access_token: Secret


class PagePatch(_Body):
    name: Name | None = None
    access_token: Secret | None = Field(None, description="rotates the Page access token")


class TokenHealthOut(BaseModel):
    status: TokenStatus
    expires_at: ApiTime | None
    data_access_expires_at: ApiTime | None
    scopes: list[str]
    checked_at: ApiTime | None
    rotated_at: ApiTime | None
    rotation_due_at: ApiTime | None
    problem: str | None


class SubscriptionOut(BaseModel):
    subscribed: bool
    fields: list[str]
    checked_at: ApiTime | None
    resubscribed_at: ApiTime | None
    resubscribe_count: int
    problem: str | None


class PageOut(BaseModel):
    page_id: str
    account_id: str
    name: str
    provisioning_state: ProvisioningState
    provisioning_error: str | None
    callback_url: str | None
    verify_token: str | None
    token_health: TokenHealthOut
    subscription: SubscriptionOut
    workstream_id: str | None
    conversations_to_close: int = Field(description=(
        "a removed page's open conversations still to be closed (its DELETE closes what it "
        "can in about 1 s, the page_removals timer the rest); 0 when none"))
    created_at: ApiTime
    updated_at: ApiTime


def _account_out(setup: ChannelSetup, account: Account) -> AccountOut:
    return AccountOut(
        id=account.id,
        name=account.name,
        app_id=account.app_id,
        callback_url=setup.callback_url(account.id),
        verify_token=account.verify_token,
        state=account_state(account),
        retention=account.retention,
        conversations_to_close=sum(row.to_close for row in RemovalBacklog(
            setup.store).of_account(account.id)) if account.deleting else 0,
        created_at=account.created_at,
        updated_at=account.updated_at,
    )


def page_out(setup: ChannelSetup, page: Page, account: Account | None) -> PageOut:
    # A page that is not connected issues no callback URL or verify token.
    issued = account is not None and page.connected
    workstream = workstream_for_page(setup.store, page.page_id) if page.connected else None
    return PageOut(
        page_id=page.page_id,
        account_id=page.account_id,
        name=page.name,
        provisioning_state=page.provisioning_state,
        provisioning_error=page.provisioning_error,
        callback_url=setup.callback_url(page.account_id) if issued else None,
        verify_token=account.verify_token if issued and account is not None else None,
        token_health=TokenHealthOut(**page.token_health.model_dump()),
        subscription=SubscriptionOut(**page.subscription.model_dump()),
        workstream_id=workstream.id if workstream is not None else None,
        conversations_to_close=(conversations_to_close(setup.store, page.page_id)
                                if page.removed else 0),
        created_at=page.created_at,
        updated_at=page.updated_at,
    )


Cursor = Annotated[str | None, Query(description="the `next` of the previous page")]
Since = Annotated[str | None, Query(description="the `since` of an earlier answer")]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post("/accounts", status_code=201, response_model=AccountOut,
             responses=documented({409: "app_id_taken: the app belongs to another account"}))
def create_account(body: AccountCreate, services: ServicesDep, _: ManagerDep) -> AccountOut:
    setup = ChannelSetup(services)
    retention = None if body.retention is None else Retention(**body.retention.model_dump())
    return _account_out(setup, setup.create_account(body.name, body.app_id, body.app_secret,
                                                    retention))


@router.get("/accounts", response_model=ListPage[AccountOut])
def list_accounts(
    services: ServicesDep,
    _: ManagerDep,
    cursor: Cursor = None,
    since: Since = None,
    limit: Limit = 100,
) -> ListPage[AccountOut]:
    setup = ChannelSetup(services)
    accounts = [_account_out(setup, a) for a in setup.tables.all_accounts()]
    return paginate(
        accounts, changed_at=lambda a: a.updated_at, cursor=cursor, since=since, limit=limit
    )


@router.get("/accounts/{account_id}", response_model=AccountOut)
def get_account(account_id: str, services: ServicesDep, _: ManagerDep) -> AccountOut:
    setup = ChannelSetup(services)
    return _account_out(setup, setup.account(account_id))


@router.patch("/accounts/{account_id}", response_model=AccountOut,
              responses=documented({409: "account_deleting"}))
def patch_account(
    account_id: str, body: AccountPatch, services: ServicesDep, _: ManagerDep
) -> AccountOut:
    setup = ChannelSetup(services)
    account = setup.update_account(account_id, name=body.name, app_secret=body.app_secret)
    if "retention" in body.model_fields_set:
        account = set_retention(services, account.id, None if body.retention is None
                                else Retention(**body.retention.model_dump()))
    return _account_out(setup, account)


@router.delete("/accounts/{account_id}", status_code=202, response_model=AccountOut,
               responses=documented({409: "page_has_workstream: a workstream serves a page"}))
def delete_account(account_id: str, services: ServicesDep, _: ManagerDep) -> AccountOut:
    return _account_out(ChannelSetup(services), remove_account(services, account_id))


@router.post("/accounts/{account_id}/pages", status_code=201, response_model=PageOut,
             responses=documented({409: "page_already_connected, account_deleting"}))
def add_page(account_id: str, body: PageCreate, services: ServicesDep, _: ManagerDep) -> PageOut:
    setup = ChannelSetup(services)
    page = setup.add_page(account_id, body.page_id, body.name, body.access_token)
    return page_out(setup, page, setup.account(account_id))


@router.get("/accounts/{account_id}/pages", response_model=ListPage[PageOut])
def list_pages(
    account_id: str,
    services: ServicesDep,
    _: ManagerDep,
    cursor: Cursor = None,
    since: Since = None,
    limit: Limit = 100,
) -> ListPage[PageOut]:
    setup = ChannelSetup(services)
    account = setup.account(account_id)
    pages = [page_out(setup, p, account) for p in setup.tables.pages_of(account_id)]
    return paginate(
        pages, changed_at=lambda p: p.updated_at, cursor=cursor, since=since, limit=limit
    )


@router.get("/accounts/{account_id}/pages/{page_id}", response_model=PageOut)
def get_page(account_id: str, page_id: str, services: ServicesDep, _: ManagerDep) -> PageOut:
    setup = ChannelSetup(services)
    return page_out(setup, setup.page(account_id, page_id), setup.tables.account(account_id))


@router.patch("/accounts/{account_id}/pages/{page_id}", response_model=PageOut,
              responses=documented({409: "page_not_connected, account_deleting"}))
def patch_page(
    account_id: str, page_id: str, body: PagePatch, services: ServicesDep, _: ManagerDep
) -> PageOut:
    setup = ChannelSetup(services)
    page = setup.page(account_id, page_id)
    if body.access_token is not None:
        page = setup.rotate_token(account_id, page_id, body.access_token)
    if body.name is not None:
        page = setup.rename_page(account_id, page_id, body.name)
    return page_out(setup, page, setup.account(account_id))


@router.delete("/accounts/{account_id}/pages/{page_id}", status_code=202, response_model=PageOut,
               responses=documented({409: "page_has_workstream: a workstream serves it"}))
def delete_page(account_id: str, page_id: str, services: ServicesDep, _: ManagerDep) -> PageOut:
    setup = ChannelSetup(services)
    page = remove_page(services, account_id, page_id)
    return page_out(setup, page, setup.tables.account(account_id))
