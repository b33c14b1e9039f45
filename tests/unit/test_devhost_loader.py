"""The devhost's loader refuses, at load time, what Azure would treat differently from the
devhost: an HTTP route that Azure would guard with a key, a Service Bus trigger whose session
flag disagrees with its queue; and it lists the functions as a readable table."""

from __future__ import annotations

from datetime import timedelta

import azure.functions as func
import pytest

from devhost.loader import FunctionLoadError, describe_functions, function_table
from messenger_channel.bus import queues
from messenger_channel.bus.queues import QueueSpec
from tests.support.function_apps import product_function_app


def http_app(**route_options: object) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="hello", methods=["GET"], **route_options)  # type: ignore[arg-type]
    def hello(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("hi")

    return app


def queue_app(queue_name: str, sessions: bool) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.service_bus_queue_trigger(arg_name="msg", queue_name=queue_name, connection="Bus",
                                   is_sessions_enabled=sessions)
    def consume(msg: func.ServiceBusMessage) -> None:
        return None

    return app


@pytest.mark.parametrize("level", [func.AuthLevel.FUNCTION, func.AuthLevel.ADMIN])
def test_an_http_route_azure_would_guard_with_a_key_is_refused(level: func.AuthLevel) -> None:
    with pytest.raises(FunctionLoadError) as refused:
        describe_functions(http_app(auth_level=level))
    message = str(refused.value)
    assert f"function 'hello': auth level '{level.value}'" in message
    assert "auth_level=func.AuthLevel.ANONYMOUS" in message


def test_the_functions_hosts_default_level_is_refused_too() -> None:
    app = func.FunctionApp()  # the Functions default: AuthLevel.FUNCTION

    @app.route(route="hello")
    def hello(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("hi")

    with pytest.raises(FunctionLoadError, match="auth level 'function'"):
        describe_functions(app)


def test_an_anonymous_route_loads() -> None:
    [spec] = describe_functions(http_app(auth_level=func.AuthLevel.ANONYMOUS))
    assert spec.name == "hello" and spec.kind == "http"


def test_a_queue_trigger_without_sessions_on_a_session_queue_is_refused() -> None:
    assert queues.INBOUND.sessions
    with pytest.raises(FunctionLoadError) as refused:
        describe_functions(queue_app("inbound", sessions=False))
    message = str(refused.value)
    assert "is_sessions_enabled=False but queue 'inbound' requires sessions" in message
    assert "messenger_channel/bus/queues.py" in message


def test_a_session_trigger_on_a_queue_without_sessions_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    plain = QueueSpec("plain", max_delivery_count=10, lock_duration=timedelta(minutes=1),
                      duplicate_detection_window=timedelta(days=1), sessions=False)
    monkeypatch.setitem(queues.QUEUES, "plain", plain)
    with pytest.raises(FunctionLoadError, match="queue 'plain' has no sessions"):
        describe_functions(queue_app("plain", sessions=True))
    [spec] = describe_functions(queue_app("plain", sessions=False))
    assert spec.queue_name == "plain"


def test_a_queue_that_service_bus_does_not_have_is_refused() -> None:
    with pytest.raises(FunctionLoadError, match="queue 'elsewhere' is not one of"):
        describe_functions(queue_app("elsewhere", sessions=True))


def test_every_function_of_the_product_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_CHECK_SCHEDULE", "0 0 */6 * * *")  # a binding's %setting%
    kinds = {spec.name: spec.kind for spec in describe_functions(product_function_app())}
    assert kinds["facebook_webhook"] == "http"
    assert kinds["router"] == kinds["sender"] == "queue"


def test_the_function_list_is_a_table_with_one_line_per_function() -> None:
    app = queue_app("inbound", sessions=True)

    @app.route(route="facebook/webhook/{account_id}", methods=["GET", "POST"])
    def webhook(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    @app.timer_trigger(arg_name="timer", schedule="0 * * * * *")
    def every_minute(timer: func.TimerRequest) -> None:
        return None

    lines = function_table(describe_functions(app)).splitlines()
    assert lines == [
        "trigger  function      on",
        "queue    consume       queue inbound",
        "http     webhook       GET,POST /api/facebook/webhook/{account_id}",
        "timer    every_minute  schedule 0 * * * * *",
    ]
