"""Timer: every page's token health and pending deprovisioning (``TOKEN_CHECK_SCHEDULE``)."""

import azure.functions as func

from messenger_channel.provisioning.token_check import run_token_check
from messenger_channel.services import get_services

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%TOKEN_CHECK_SCHEDULE%", run_on_startup=False,
                  use_monitor=True)
def token_check(timer: func.TimerRequest) -> None:
    run_token_check(get_services())
