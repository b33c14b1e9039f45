"""Privacy: the erasure job and the daily retention (the quarantine's too) and audit export
(timers, each one call into the core), and Meta's data deletion callback with its status page
(plain HTTP: Meta posts a form, and the status page is HTML)."""

import azure.functions as func

from messenger_channel.privacy.audit_export import run_audit_export
from messenger_channel.privacy.data_deletion import answer_callback, answer_status
from messenger_channel.privacy.erasure_job import run_erasures
from messenger_channel.privacy.retention import run_retention
from messenger_channel.services import get_services

bp = func.Blueprint()


@bp.function_name("erasures")
@bp.timer_trigger(arg_name="timer", schedule="15 * * * * *", run_on_startup=False,
                  use_monitor=True)
def erasures(timer: func.TimerRequest) -> None:
    run_erasures(get_services())


@bp.function_name("retention")
@bp.timer_trigger(arg_name="timer", schedule="0 20 2 * * *", run_on_startup=False,
                  use_monitor=True)
def retention(timer: func.TimerRequest) -> None:
    run_retention(get_services())


@bp.function_name("audit_export")
@bp.timer_trigger(arg_name="timer", schedule="0 40 0 * * *", run_on_startup=False,
                  use_monitor=True)
def audit_export(timer: func.TimerRequest) -> None:
    run_audit_export(get_services())


@bp.route(route="facebook/data-deletion/{account_id}", methods=["POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
def data_deletion(req: func.HttpRequest) -> func.HttpResponse:
    answer = answer_callback(get_services(), req.route_params.get("account_id", ""),
                             req.get_body())
    return func.HttpResponse(answer.body, status_code=answer.status,
                             mimetype=answer.content_type, charset="utf-8")


@bp.route(route="facebook/data-deletion/{account_id}/{code}", methods=["GET"],
          auth_level=func.AuthLevel.ANONYMOUS)
def data_deletion_status(req: func.HttpRequest) -> func.HttpResponse:
    answer = answer_status(get_services(), req.route_params.get("account_id", ""),
                           req.route_params.get("code", ""))
    return func.HttpResponse(answer.body, status_code=answer.status,
                             mimetype=answer.content_type, charset="utf-8")
