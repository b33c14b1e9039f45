"""Channel setup, as in the Facebook channel of Dynamics 365: accounts hold a Facebook app's
id and secret; pages are checked, subscribed and brought to ``Running`` (or ``Error`` with a
reason an operator can act on); deleting deprovisions them, and a deprovisioning always ends
(``teardown``). A deleted account stays readable (``deleting``) until its pages are
``Deprovisioned``, then it is forgotten with its app secret.

Secrets go to the secret store under names never reused (Key Vault keeps deleted names for
its retention period); the tables hold only those names.
"""

from __future__ import annotations

import logging
import secrets as random_tokens
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from messenger_channel.errors import Conflict, Invalid, Missing
from messenger_channel.facebook.graph import GraphClient
from messenger_channel.facebook.graph_errors import GraphError
from messenger_channel.provisioning.alerts import Alerts, page_observations
from messenger_channel.provisioning.models import (
    Account,
    AppIdClaim,
    Page,
    ProvisioningState,
    Retention,
    Subscription,
    TokenHealth,
)
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.provisioning.teardown import REMOVE_BY_HAND, AfterRefusal, after_refusal
from messenger_channel.provisioning.token_health import (
    UNHEALTHY,
    assess_token,
    refused_token,
    with_rotation_reminder,
)
from messenger_channel.secrets import SecretNotFound, SecretStore, new_secret_name
from messenger_channel.services import Services
from messenger_channel.storage.errors import AlreadyExists, ConcurrencyConflict

State = ProvisioningState
log = logging.getLogger(__name__)

# The webhook fields the product handles (API.md, issue "Channel setup").
SUBSCRIBED_FIELDS = (
    "messages",
    "messaging_postbacks",
    "message_deliveries",
    "message_reads",
    "message_echoes",
    "message_reactions",
    "message_edits",
    "messaging_referrals",
    "messaging_optins",
    "messaging_handovers",
    "standby",
    "messaging_policy_enforcement",
)


class GraphBusy(Exception):
    """Graph rate-limited a check: the caller stops asking and checks the page later."""


@dataclass(frozen=True)
class TokenCheck:
    health: TokenHealth
    problem: str | None  # None: the token may be used
    rate_limited: bool = False


def _new_id(prefix: str) -> str:
    return prefix + random_tokens.token_hex(8)


def _unchecked(unknown: TokenHealth, error: GraphError) -> TokenCheck:
    return TokenCheck(
        unknown,
        f"could not check the token with Facebook ({error.message})",
        rate_limited=error.rate_limited,
    )


class ChannelSetup:
    def __init__(self, services: Services) -> None:
        self.store = services.tables
        self.tables = ChannelTables(services.tables)
        self.secrets: SecretStore = services.secrets
        self.graph: GraphClient = services.graph
        self.clock = services.clock
        self.settings = services.settings
        self.alerts = Alerts(services.tables, services.clock, services.settings.alert_webhook_url)

    # -- accounts --------------------------------------------------------------------------
    def callback_url(self, account_id: str) -> str:
        return f"{self.settings.public_base_url}/api/facebook/webhook/{account_id}"

    def account(self, account_id: str) -> Account:
        """The account, also while it is being deleted (until its pages are Deprovisioned)."""
        account = self.tables.account(account_id)
        if account is None:
            raise Missing.of(f"account {account_id}")
        return account

    def active_account(self, account_id: str) -> Account:
        """The account, for a change: one being deleted takes none (``account_deleting``)."""
        account = self.account(account_id)
        if account.deleting:
            raise Conflict("account_deleting", f"account {account_id} is being deleted: its "
                                               "pages are being deprovisioned")
        return account

    def create_account(self, name: str, app_id: str, app_secret: str,
                       retention: Retention | None = None) -> Account:
        account_id = _new_id("acc_")
        try:
            self.tables.app_ids.create(AppIdClaim(app_id=app_id, account_id=account_id))
        except AlreadyExists:
            raise Conflict(
                "app_id_taken", f"app {app_id} already belongs to another account"
            ) from None
        secret_name = new_secret_name("app-secret", account_id)
        now = self.clock.now()
        try:
            self.secrets.set(secret_name, app_secret)
            account = Account(
                id=account_id,
                name=name,
                app_id=app_id,
                app_secret_ref=secret_name,
                verify_token=random_tokens.token_urlsafe(32),
                retention=retention,
                created_at=now,
                updated_at=now,
            )
            self.tables.accounts.create(account)
        except BaseException:
            # Never half-written: no claim or secret outlives a failed create.
            self.secrets.delete(secret_name)
            self.tables.app_ids.delete("appid", app_id)
            raise
        return account

    def update_account(
        self, account_id: str, *, name: str | None, app_secret: str | None
    ) -> Account:
        account = self.active_account(account_id)
        new_ref = None
        if app_secret is not None:
            new_ref = new_secret_name("app-secret", account_id)
            self.secrets.set(new_ref, app_secret)

        def change(current: Account) -> Account:
            return current.model_copy(
                update={
                    "name": name if name is not None else current.name,
                    "app_secret_ref": new_ref or current.app_secret_ref,
                    "updated_at": self.clock.now(),
                }
            )

        updated = self.tables.accounts.update("account", account.id, change)
        if new_ref is not None:
            self.secrets.delete(account.app_secret_ref)
        return updated

    def delete_account(self, account_id: str) -> Account:
        """Deprovision every page, then forget the account (at once, or from token_check).
        Asking again only finishes what an interrupted delete left: a page already
        Deprovisioning keeps its attempts."""
        account = self.account(account_id)
        account = self.tables.accounts.update(
            "account",
            account.id,
            lambda a: None if a.deleting else a.model_copy(
                update={"deleting": True, "updated_at": self.clock.now()}),
        )
        for page in self.tables.pages_of(account.id):
            if page.connected and page.provisioning_state is not State.DEPROVISIONING:
                self._deprovision(page)
        self.finish_account_deletion(account)
        return account

    def finish_account_deletion(self, account: Account) -> bool:
        if any(page.connected for page in self.tables.pages_of(account.id)):
            return False
        self.secrets.delete(account.app_secret_ref)
        self.tables.app_ids.delete("appid", account.app_id)
        self.tables.accounts.delete("account", account.id)
        return True

    # -- pages -----------------------------------------------------------------------------
    def page(self, account_id: str, page_id: str) -> Page:
        page = self.tables.page(page_id)
        if page is None or page.account_id != account_id:
            raise Missing.of(f"page {page_id}")
        return page

    def add_page(self, account_id: str, page_id: str, name: str, access_token: str) -> Page:
        account = self.active_account(account_id)
        self._claim(account.id, page_id, name)
        token_ref = new_secret_name("page-token", page_id)
        self.secrets.set(token_ref, access_token)
        self._set(page_id, state=State.PROCESSING, token_ref=token_ref)
        check = self.check_token(account, page_id, access_token)
        if check.problem is not None:
            return self._set(
                page_id,
                state=State.ERROR,
                error=check.problem,
                source="token",
                token_health=check.health,
            )
        problem = self._subscribe(page_id, access_token)
        if problem is not None:
            return self._set(
                page_id,
                state=State.ERROR,
                error=problem,
                source="subscription",
                token_health=check.health,
            )
        health = with_rotation_reminder(check.health, since=self.clock.now(), now=self.clock.now())
        return self._set(
            page_id, state=State.RUNNING, token_health=health, subscription=self._subscribed()
        )

    def _claim(self, account_id: str, page_id: str, name: str) -> None:
        """Attach the page to this account: exactly one of two concurrent adds wins."""
        now = self.clock.now()
        draft = Page(
            page_id=page_id,
            account_id=account_id,
            name=name,
            provisioning_state=State.DRAFT,
            created_at=now,
            updated_at=now,
        )
        try:
            self.tables.pages.create(draft)
            return
        except AlreadyExists:
            pass
        current = self.tables.pages.get_with_etag("page", page_id)
        if current is not None and current.entity.connected:
            raise Conflict(
                "page_already_connected",
                f"page {page_id} is already connected to an account; delete it "
                "there first (a page serves one channel)",
            )
        try:
            if current is None:
                self.tables.pages.create(draft)
            else:
                self.tables.pages.replace(draft, current.etag)
        except (AlreadyExists, ConcurrencyConflict):
            raise Conflict(
                "page_already_connected", f"page {page_id} was connected by another request"
            ) from None

    def rotate_token(self, account_id: str, page_id: str, access_token: str) -> Page:
        """Check the new token first; a failing one changes nothing (``Invalid``, naming
        ``access_token``)."""
        account = self.active_account(account_id)
        page = self.page(account.id, page_id)
        if not page.connected or page.provisioning_state is State.DEPROVISIONING:
            raise Conflict(
                "page_not_connected", f"page {page_id} is {page.provisioning_state}; add it again"
            )
        check = self.check_token(account, page_id, access_token)
        if check.problem is not None:
            raise Invalid([("access_token", check.problem)])
        problem = self._subscribe(page_id, access_token)
        if problem is not None:
            raise Invalid([("access_token", problem)])
        token_ref = new_secret_name("page-token", page_id)
        self.secrets.set(token_ref, access_token)
        now = self.clock.now()
        updated = self._set(
            page_id,
            state=State.RUNNING,
            token_ref=token_ref,
            token_health=with_rotation_reminder(
                check.health.model_copy(update={"rotated_at": now}), since=now, now=now
            ),
            subscription=self._subscribed(),
        )
        if page.token_ref:
            self.secrets.delete(page.token_ref)
        self.alert_on(updated)
        return updated

    def rename_page(self, account_id: str, page_id: str, name: str) -> Page:
        self.page(self.active_account(account_id).id, page_id)
        return self._update(page_id, lambda p: p.model_copy(update={"name": name}))

    def delete_page(self, account_id: str, page_id: str) -> Page:
        page = self.page(account_id, page_id)
        if not page.connected or page.provisioning_state is State.DEPROVISIONING:
            return page  # asking again neither restarts nor extends the attempts
        return self._deprovision(page)

    def _deprovision(self, page: Page) -> Page:
        page = self._set(page.page_id, state=State.DEPROVISIONING,
                         deprovisioning_since=self.clock.now(), deprovisioning_attempts=0)
        return self.retry_deprovisioning(page)

    def retry_deprovisioning(self, page: Page) -> Page:
        """One unsubscribe attempt. On success the token is deleted and the page is
        ``Deprovisioned``; a refusal keeps it ``Deprovisioning`` with the reason, or releases
        it with the reason (``teardown.after_refusal``: a dead token, too many refusals, too
        long)."""
        reason = None
        try:
            token = self.secrets.get(page.token_ref) if page.token_ref else None
        except SecretNotFound:  # an interrupted release, or lost: Facebook cannot be asked
            token = None
            reason = page.provisioning_error or (
                "the page's token was missing from the secret store, so Facebook could not be "
                f"asked to unsubscribe the app; {REMOVE_BY_HAND}")
        if token is not None:
            try:
                self.graph.unsubscribe_app(page.page_id, token)
            except GraphError as error:
                refused, outcome = self._refused(page.page_id, error)
                if outcome is None or not outcome.released:
                    return refused
                reason = outcome.reason
        if page.token_ref:
            self.secrets.delete(page.token_ref)
        return self._update(page.page_id, lambda p: p.model_copy(update={
            "provisioning_state": State.DEPROVISIONED, "provisioning_error": reason,
            "error_source": None if reason is None else "deprovisioning", "token_ref": None,
            "subscription": Subscription(checked_at=self.clock.now())}))

    def _refused(self, page_id: str, error: GraphError) -> tuple[Page, AfterRefusal | None]:
        """Count a refused unsubscribe (the page stays Deprovisioning, with the reason); the
        page and what the refusal leads to (None: another attempt finished it meanwhile)."""
        now = self.clock.now()
        decided: list[AfterRefusal] = []

        def count(current: Page) -> Page | None:
            decided.clear()
            if current.provisioning_state is not State.DEPROVISIONING:
                return None
            attempts = current.deprovisioning_attempts + 1
            decided.append(after_refusal(error, attempts=attempts, now=now,
                                         since=current.deprovisioning_since or current.updated_at))
            return current.model_copy(update={
                "provisioning_error": decided[0].reason, "error_source": "deprovisioning",
                "deprovisioning_attempts": attempts, "updated_at": now})

        page = self.tables.pages.update("page", page_id, count)
        return page, (decided[0] if decided else None)

    # -- checks ----------------------------------------------------------------------------
    def check_token(self, account: Account, page_id: str, token: str) -> TokenCheck:
        now = self.clock.now()
        unknown = TokenHealth(checked_at=now)
        try:
            identity = self.graph.me(token)
        except GraphError as error:
            if error.token_invalid:
                health = refused_token(error, now)
                return TokenCheck(health, health.problem)
            return _unchecked(unknown, error)
        if identity.id != page_id:
            return TokenCheck(
                unknown, f"the token belongs to page {identity.name} ({identity.id}), not {page_id}"
            )
        try:
            info = self.graph.debug_token(
                token, app_id=account.app_id, app_secret=self.secrets.get(account.app_secret_ref)
            )
        except GraphError as error:
            if error.token_invalid:
                return TokenCheck(
                    unknown,
                    "Facebook refused the account's app credentials "
                    f"({error.message}); check the App ID and App Secret",
                )
            return _unchecked(unknown, error)
        if info.app_id and info.app_id != account.app_id:
            return TokenCheck(
                unknown,
                f"the token was issued for app {info.app_id}, not this "
                f"account's app {account.app_id}",
            )
        health = assess_token(
            info, now=now, warning_days=self.settings.token_warning_days, rotated_at=None
        )
        return TokenCheck(health, health.problem if health.status in UNHEALTHY else None)

    def _subscribe(self, page_id: str, token: str) -> str | None:
        try:
            self.graph.subscribe_app(page_id, token, SUBSCRIBED_FIELDS)
        except GraphError as error:
            return f"Facebook refused the subscription: {error.message}"
        return None

    def _subscribed(self) -> Subscription:
        return Subscription(
            subscribed=True, fields=list(SUBSCRIBED_FIELDS), checked_at=self.clock.now()
        )

    def refresh_token_health(self, page: Page) -> Page:
        """The token check's part of this issue: re-read ``debug_token``; an unhealthy token puts
        the page in ``Error``, a healthy one takes it out of an ``Error`` the token caused.
        ``GraphBusy`` when Graph rate-limits the check (nothing is written)."""
        account = self.tables.account(page.account_id)
        if account is None or page.token_ref is None:
            return page
        check = self.check_token(account, page.page_id, self.secrets.get(page.token_ref))
        if check.rate_limited:
            raise GraphBusy(check.problem)
        rotated_at = page.token_health.rotated_at
        health = with_rotation_reminder(
            check.health.model_copy(update={"rotated_at": rotated_at}),
            since=rotated_at or page.created_at,
            now=check.health.checked_at or self.clock.now(),
        )
        if check.problem is not None and health.status in UNHEALTHY:
            return self._set(
                page.page_id,
                state=State.ERROR,
                error=check.problem,
                source="token",
                token_health=health,
            )
        if check.problem is not None:  # Facebook unreachable: keep the state, note the check
            return self._update(
                page.page_id,
                lambda p: p.model_copy(
                    update={
                        "token_health": p.token_health.model_copy(
                            update={"checked_at": health.checked_at}
                        )
                    }
                ),
            )
        if page.provisioning_state is State.ERROR and page.error_source == "token":
            return self._set(page.page_id, state=State.RUNNING, token_health=health)
        return self._update(page.page_id, lambda p: p.model_copy(update={"token_health": health}))

    def refresh_subscription(self, page: Page) -> Page:
        """Is our app still subscribed to the page's webhooks with every field? Meta removes it
        after an hour of webhook failures and expects a manual fix; this re-subscribes at once
        and records it. Only for a page whose token works (else Graph could not answer)."""
        account = self.tables.account(page.account_id)
        if (
            account is None
            or page.token_ref is None
            or page.token_health.status in UNHEALTHY
            or page.provisioning_state not in (State.RUNNING, State.ERROR)
            or (page.provisioning_state is State.ERROR and page.error_source != "subscription")
        ):
            return page
        token = self.secrets.get(page.token_ref)
        now = self.clock.now()
        try:
            apps = self.graph.subscribed_apps(page.page_id, token)
        except GraphError as error:
            if error.rate_limited:
                raise GraphBusy(error.message) from None
            unread = page.subscription.model_copy(update={
                "checked_at": now, "problem": f"could not read the subscription ({error.message})"})
            return self._set_subscription(page.page_id, unread)
        ours = next((app for app in apps if app.id == account.app_id), None)
        if ours is not None and set(SUBSCRIBED_FIELDS) <= set(ours.subscribed_fields):
            current = page.subscription.model_copy(update={
                "subscribed": True, "fields": list(ours.subscribed_fields), "checked_at": now,
                "problem": None})
            return self._keep_or_recover(page, current)
        try:
            self.graph.subscribe_app(page.page_id, token, SUBSCRIBED_FIELDS)
        except GraphError as error:
            if error.rate_limited:
                raise GraphBusy(error.message) from None
            lost = page.subscription.model_copy(update={
                "subscribed": False, "fields": list(ours.subscribed_fields) if ours else [],
                "checked_at": now,
                "problem": f"the app is not subscribed and Facebook refused to subscribe it again "
                f"({error.message})"})
            return self._set_subscription(page.page_id, lost)
        restored = self._subscribed().model_copy(update={
            "resubscribed_at": now, "resubscribe_count": page.subscription.resubscribe_count + 1})
        return self._keep_or_recover(page, restored)

    def _keep_or_recover(self, page: Page, subscription: Subscription) -> Page:
        if page.provisioning_state is State.ERROR:  # the subscription had put it there
            return self._set(page.page_id, state=State.RUNNING, subscription=subscription)
        return self._set_subscription(page.page_id, subscription)

    def _set_subscription(self, page_id: str, subscription: Subscription) -> Page:
        return self._update(page_id, lambda p: p.model_copy(update={"subscription": subscription}))

    def token_refused(self, page_id: str, error: GraphError) -> Page | None:
        """A Graph call made with the page's token got a 190 (send, profile...): the token is
        ``invalid`` (or ``expired``) at once and the page goes to ``Error``; its inbound events
        keep flowing. None when the page is gone or no longer connected."""
        page = self.tables.page(page_id)
        if page is None or not page.connected:
            return None
        health = refused_token(error, self.clock.now()).model_copy(
            update={"rotated_at": page.token_health.rotated_at}
        )
        updated = self._set(
            page_id, state=State.ERROR, error=health.problem, source="token", token_health=health
        )
        self.alert_on(updated)
        return updated

    def alert_on(self, page: Page) -> int:
        """Alert on what changed in the page's health; returns how many alerts went out. An
        alert that cannot be recorded is logged: it never fails the caller (a send, a check)."""
        sent = 0
        for seen in page_observations(page):
            try:
                sent += self.alerts.observe(seen)
            except Exception:
                log.exception("health alert not recorded", extra={"page_id": page.page_id})
        return sent

    # -- writes ----------------------------------------------------------------------------
    def _set(
        self,
        page_id: str,
        *,
        state: State,
        error: str | None = None,
        source: str | None = None,
        **changes: object,
    ) -> Page:
        """Move a page to ``state``; leaving Error or Deprovisioning clears the old reason."""
        return self._update(
            page_id,
            lambda p: p.model_copy(
                update={
                    "provisioning_state": state,
                    "provisioning_error": error,
                    "error_source": source,
                    **changes,
                }
            ),
        )

    def _update(self, page_id: str, change: Callable[[Page], Page]) -> Page:
        now: datetime = self.clock.now()
        return self.tables.pages.update(
            "page", page_id, lambda p: change(p).model_copy(update={"updated_at": now})
        )
