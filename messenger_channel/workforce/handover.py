"""A workstream's part in Messenger's handover protocol (``handover`` on the workstream).

Several apps may serve one page: the Primary Receiver controls a thread unless it passes it;
the others (Secondary Receivers) get its events as ``standby`` until a thread is passed to
them. ``role`` says which of these the channel's app was given in the page's Messenger
settings ("App roles"); the channel cannot change it, and health says when the page's
subscription does not fit it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Messenger's Page Inbox: where a thread goes when no other app is named.
PAGE_INBOX_APP_ID = "263902037430900"


class HandoverSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["primary", "secondary"] = Field(
        description="the channel's app role on the page: secondary acts on a thread only once "
                    "it is passed; primary owns threads and passes them on request")
    return_to_app_id: str | None = Field(
        None, pattern=r"^\d{1,32}$",
        description="secondary: the app a thread is passed back to when its conversation "
                    "closes; primary: the app threads are passed to on request; "
                    f"absent: the Page Inbox ({PAGE_INBOX_APP_ID})")

    def return_app_id(self) -> str:
        return self.return_to_app_id or PAGE_INBOX_APP_ID
