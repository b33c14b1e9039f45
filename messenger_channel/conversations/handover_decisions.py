"""The handover protocol's choices, pure: what a ``messaging_handovers`` event means for the
channel, what happens to an open conversation whose thread another app took, whether a
conversation's thread goes back when it ends. ``handover_events`` and ``thread_control`` read
and write the state; these decide.
"""

from __future__ import annotations

from typing import Literal

from messenger_channel.conversations.models import State
from messenger_channel.facebook.webhook_events import HandoverData

Meaning = Literal["ours", "taken", "requested", "none"]
AfterTake = Literal["close", "keep"]
Role = Literal["primary", "secondary"]

# Nobody works on these yet: a conversation in them whose thread another app took is closed.
_UNSTAFFED: tuple[str, ...] = ("bot", "survey", "waiting", "offered")


def meaning(event: HandoverData, our_app_id: str) -> Meaning:
    """What the event says about the thread, for the app ``our_app_id``:

    - ``ours``: the thread was passed to us, or taken by us (Facebook told us of our own take);
    - ``taken``: another app took it from us, or we passed it on (the conversation is no
      longer ours to answer);
    - ``requested``: another app asks for it (the primary receiver may pass it);
    - ``none``: a change between other apps, a change of app roles, or our own request."""
    action = event.action
    if action == "request_thread_control":
        requester = event.requested_owner_app_id
        return "requested" if requester is not None and requester != our_app_id else "none"
    if action == "app_roles":
        return "none"
    if event.new_owner_app_id == our_app_id:
        return "ours"
    if event.previous_owner_app_id == our_app_id:
        return "taken"
    return "none"


def after_take(state: State) -> AfterTake:
    """A conversation whose thread another app took: closed if nobody has started on it (the
    customer is with that app now; offering it would put an agent in a thread they cannot
    answer); kept, with a line in its transcript, once an agent holds it, so the agent sees
    why replies fail and closes it (or the thread comes back)."""
    return "close" if state in _UNSTAFFED else "keep"


def passes_back(role: Role | None, thread_owner_app_id: str | None, our_app_id: str) -> bool:
    """Whether an ending conversation's thread is passed back: as secondary receiver, unless
    the thread is known to be another app's already (taken, or passed on)."""
    if role != "secondary":
        return False
    return thread_owner_app_id is None or thread_owner_app_id == our_app_id
