"""Timer (``TOKEN_CHECK_SCHEDULE``): the conversations of pages being removed are closed, then
every page's token health, subscription and pending deprovisioning are checked
(``page_removal.check_channels``). A failing page never stops the others; the next run goes
on from the least recently checked."""

import azure.functions as func

from messenger_channel.conversations.page_removal import check_channels
from messenger_channel.services import get_services

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%TOKEN_CHECK_SCHEDULE%", run_on_startup=False,
                  use_monitor=True)
def token_check(timer: func.TimerRequest) -> None:
    check_channels(get_services())
