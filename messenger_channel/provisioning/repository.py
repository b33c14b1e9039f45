"""Where accounts and pages live in Table Storage.

All pages share one partition: an operator has tens or hundreds of pages, every lookup by
page id is a point read, and listing them all is one small partition scan.
"""

from __future__ import annotations

from messenger_channel.provisioning.models import Account, AppIdClaim, Page
from messenger_channel.storage.tables import Table, TableStore


class ChannelTables:
    def __init__(self, store: TableStore) -> None:
        self.accounts: Table[Account] = store.table("Accounts", Account)
        self.app_ids: Table[AppIdClaim] = store.table("AccountAppIds", AppIdClaim)
        self.pages: Table[Page] = store.table("Pages", Page)

    def account(self, account_id: str) -> Account | None:
        return self.accounts.get("account", account_id)

    def page(self, page_id: str) -> Page | None:
        return self.pages.get("page", page_id)

    def all_accounts(self) -> list[Account]:
        return self.accounts.list_partition("account")

    def all_pages(self) -> list[Page]:
        return self.pages.list_partition("page")

    def pages_of(self, account_id: str) -> list[Page]:
        return [p for p in self.all_pages() if p.account_id == account_id]
