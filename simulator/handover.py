"""Messenger's handover protocol (now "Conversation Routing", same calls): who may pass, take
or request a thread, who may send in it, and the ``messaging_handovers`` events it causes.

Rules, from Meta's Messenger Platform docs (handover protocol, conversation control, thread
owner) and real Graph answers quoted in public code:

- A page with app roles has one Primary Receiver and any Secondary Receivers. A thread belongs
  to the app that last got it by pass or take, else to the primary; it may be idle (no owner).
- ``pass_thread_control``: the owner (or the primary) gives the thread to ``target_app_id``,
  which must have a role on the page (the Page Inbox, 263902037430900, always may receive);
  a secondary that names no target passes to the primary. The new owner gets
  ``pass_thread_control {previous_owner_app_id, new_owner_app_id, metadata}``.
- ``take_thread_control``: "If a conversation is idle, or your app is the Primary Receiver";
  the app that lost the thread gets ``take_thread_control {previous_owner_app_id,
  new_owner_app_id, metadata}``. The answer is ``{"success": true}``.
- ``request_thread_control``: a secondary asks; the primary gets ``request_thread_control
  {requested_owner_app_id, metadata}`` and may ignore it.
- Send API by an app that does not own the thread: ``(#10) Message failed to send because
  another app is controlling this thread now.``, code 10, subcode 2018300 (the answer quoted
  in github.com/davidchua/pymessenger/issues/93). In an idle thread any app with a role sends.
- ``GET /thread_owner?recipient=``: ``{"data": [{"thread_owner": {"app_id"}}]}``; a secondary
  asking about a thread another secondary owns gets 100/2018234 "(#100) Denying visibility of
  any secondary receiver to another secondary receiver other than itself." (the docs' Get
  Thread Owner page). ``GET /secondary_receivers``: the primary only.

Meta documents no subcode or wording for a take, pass or request that the caller's role does
not allow: those answer the generic ``(#10)`` permission error with a message of our own
(marked below), which the product classifies by code alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from simulator.graph_errors import GraphError, invalid_param
from simulator.models import PageRoles
from simulator.state import SimulatorState

PAGE_INBOX_APP_ID = "263902037430900"
Action = Literal["pass_thread_control", "take_thread_control", "request_thread_control"]


@dataclass(frozen=True)
class Notice:
    """One ``messaging_handovers`` event for one app's webhook."""

    app_id: str
    page_id: str
    psid: str
    action: Action
    data: dict[str, Any]

    def event(self, timestamp_ms: int) -> dict[str, Any]:
        return {"sender": {"id": self.psid}, "recipient": {"id": self.page_id},
                "timestamp": timestamp_ms, self.action: self.data}


def not_owner() -> GraphError:
    return GraphError(10, 2018300)  # the wording is in graph_errors


def _no_permission(detail: str) -> GraphError:
    # Simulated wording: Meta's reference gives no subcode for these refusals.
    return GraphError(10, message=f"(#10) Application does not have permission for this "
                                  f"action: {detail}")


class ThreadControl:
    """The protocol on the simulator's state, for a page that has app roles."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def roles(self, page_id: str) -> PageRoles:
        roles = self.state.roles(page_id)
        if roles is None:
            raise _no_permission("the page has no app roles (Messenger settings, App roles)")
        return roles

    def _role_of(self, roles: PageRoles, app_id: str) -> Literal["primary", "secondary"]:
        if app_id == roles.primary_receiver_app_id:
            return "primary"
        if app_id in roles.secondary_receiver_app_ids:
            return "secondary"
        raise _no_permission(f"app {app_id} is neither the Primary nor a Secondary Receiver "
                             "of this page")

    def check_send(self, page_id: str, psid: str, app_id: str) -> None:
        """Raise Graph's refusal when ``app_id`` may not message this customer now."""
        if self.state.roles(page_id) is None:
            return  # a single-app page: no handover protocol
        owner = self.state.thread_owner(page_id, psid)
        if owner is not None and owner != app_id:
            raise not_owner()

    def pass_thread(self, page_id: str, psid: str, app_id: str, target_app_id: str | None,
                    metadata: str | None) -> list[Notice]:
        roles = self.roles(page_id)
        role = self._role_of(roles, app_id)
        owner = self.state.thread_owner(page_id, psid)
        if role != "primary" and owner != app_id:
            raise _no_permission("only the app that controls the thread (or the Primary "
                                 "Receiver) can pass it")
        target = target_app_id or (roles.primary_receiver_app_id if role == "secondary"
                                   else None)
        if target is None:
            raise invalid_param("The parameter target_app_id is required")
        if target != PAGE_INBOX_APP_ID and target not in (
                roles.primary_receiver_app_id, *roles.secondary_receiver_app_ids):
            raise invalid_param(f"param target_app_id {target} is not an app with a role on "
                                "this page")
        if target == app_id:
            raise invalid_param("param target_app_id must be another app")
        self.state.set_thread_owner(page_id, psid, target)
        data = {"previous_owner_app_id": owner, "new_owner_app_id": target,
                **_metadata(metadata)}
        return [Notice(target, page_id, psid, "pass_thread_control", data)]

    def take_thread(self, page_id: str, psid: str, app_id: str,
                    metadata: str | None) -> list[Notice]:
        roles = self.roles(page_id)
        role = self._role_of(roles, app_id)
        owner = self.state.thread_owner(page_id, psid)
        if owner == app_id:
            return []  # already its: nothing changes, nobody is told
        if role != "primary" and owner is not None:
            raise _no_permission("only the Primary Receiver can take a thread another app "
                                 "controls; use request_thread_control")
        self.state.set_thread_owner(page_id, psid, app_id)
        if owner is None:
            return []
        data = {"previous_owner_app_id": owner, "new_owner_app_id": app_id,
                **_metadata(metadata)}
        return [Notice(owner, page_id, psid, "take_thread_control", data)]

    def request_thread(self, page_id: str, psid: str, app_id: str,
                       metadata: str | None) -> list[Notice]:
        roles = self.roles(page_id)
        if self._role_of(roles, app_id) != "secondary" or roles.primary_receiver_app_id is None:
            raise _no_permission("only a Secondary Receiver requests thread control")
        # Meta's sample sends this id as a number.
        data: dict[str, Any] = {"requested_owner_app_id": int(app_id), **_metadata(metadata)}
        return [Notice(roles.primary_receiver_app_id, page_id, psid, "request_thread_control",
                       data)]

    def owner_answer(self, page_id: str, psid: str, app_id: str) -> dict[str, Any]:
        roles = self.roles(page_id)
        role = self._role_of(roles, app_id)
        owner = self.state.thread_owner(page_id, psid)
        if role == "secondary" and owner not in (None, app_id, roles.primary_receiver_app_id):
            raise GraphError(100, 2018234, "(#100) Denying visibility of any secondary "
                                           "receiver to another secondary receiver other than "
                                           "itself.")
        return {"data": [] if owner is None else [{"thread_owner": {"app_id": owner}}]}

    def secondary_receivers(self, page_id: str, app_id: str) -> dict[str, Any]:
        roles = self.roles(page_id)
        if self._role_of(roles, app_id) != "primary":
            raise _no_permission("only the Primary Receiver lists the secondary receivers")
        found = []
        for secondary in roles.secondary_receiver_app_ids:
            app = self.state.app(secondary)
            found.append({"id": secondary, "name": app.name if app else ""})
        return {"data": found}


def _metadata(metadata: str | None) -> dict[str, str]:
    return {} if metadata is None else {"metadata": metadata}
