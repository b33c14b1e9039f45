"""Timers of the channel's pages: ``token_check`` (``TOKEN_CHECK_SCHEDULE``) puts back in the
backlog any removed page with conversations still open and closes them, then checks every
page's token health, subscription and pending deprovisioning (``page_removal.check_channels``);
``page_removals`` (every 15 s) closes what page and account DELETEs left open, a bounded run
at a time (``page_removal.settle_removals``). A failing page never stops the others; the next
run goes on."""

import azure.functions as func

from messenger_channel.conversations.page_removal import check_channels, settle_removals
from messenger_channel.services import get_services

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%TOKEN_CHECK_SCHEDULE%", run_on_startup=False,
                  use_monitor=True)
def token_check(timer: func.TimerRequest) -> None:
    check_channels(get_services())


@bp.function_name("page_removals")
# No schedule monitor: a missed run is not worth catching up on, the next is 15 s away.
@bp.timer_trigger(arg_name="timer", schedule="*/15 * * * * *", run_on_startup=False,
                  use_monitor=False)
def page_removals(timer: func.TimerRequest) -> None:
    settle_removals(get_services())
