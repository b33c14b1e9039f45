"""Timers of the conversation engine, on fixed NCRONTAB schedules:
``auto_close`` (inactivity and the end of wrap-up) and ``distribute`` (offer what waits)."""

import azure.functions as func

from messenger_channel.conversations.timers import run_auto_close, run_distribute
from messenger_channel.services import get_services

bp = func.Blueprint()


@bp.function_name("auto_close")
@bp.timer_trigger(arg_name="timer", schedule="30 * * * * *", run_on_startup=False,
                  use_monitor=True)
def auto_close(timer: func.TimerRequest) -> None:
    run_auto_close(get_services())


@bp.function_name("distribute")
@bp.timer_trigger(arg_name="timer", schedule="0 * * * * *", run_on_startup=False,
                  use_monitor=True)
def distribute(timer: func.TimerRequest) -> None:
    run_distribute(get_services())
