"""A small FunctionApp that exercises every trigger the devhost serves."""

import json
import os
from pathlib import Path

import azure.functions as func

from messenger_channel.bus.local import open_local_queue
from messenger_channel.bus.port import QueueMessage
from messenger_channel.clock import system_clock

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
DATA = Path(os.environ["LOCAL_DATA_DIR"])


def record(name: str, line: dict[str, object]) -> None:
    with (DATA / f"{name}.jsonl").open("a") as out:
        out.write(json.dumps(line) + "\n")


@app.route(route="echo/{name}", methods=["GET", "POST"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(
            {
                "name": req.route_params["name"],
                "method": req.method,
                "query": dict(req.params),
                "body": req.get_body().decode(),
                "signature": req.headers.get("x-test"),
            }
        ),
        status_code=201,
        mimetype="application/json",
    )


@app.route(route="echo/fixed", methods=["GET"])
def echo_fixed(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("literal route wins", mimetype="text/plain")


@app.route(route="files/{*rest}", methods=["GET"])
async def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("rest", ""), mimetype="text/plain")


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("unhandled")


@app.route(route="enqueue", methods=["POST"])
def enqueue(req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_json()
    queue = open_local_queue(DATA / "queues.sqlite", system_clock)
    queue.send(
        "inbound",
        [
            QueueMessage(
                body=json.dumps(item).encode(), session_id=item["session"], message_id=item["id"]
            )
            for item in body
        ],
    )
    return func.HttpResponse(status_code=202)


@app.function_name("router")
@app.service_bus_queue_trigger(
    arg_name="msg",
    queue_name="inbound",
    connection="ServiceBusConnection",
    is_sessions_enabled=True,
)
def router(msg: func.ServiceBusMessage) -> None:
    item = json.loads(msg.get_body())
    if item.get("fail"):
        record("failures", {"id": item["id"], "delivery_count": msg.delivery_count})
        raise ValueError("asked to fail")
    record(
        "processed",
        {"id": item["id"], "session": msg.session_id, "delivery_count": msg.delivery_count},
    )


@app.timer_trigger(arg_name="timer", schedule="%TEST_SCHEDULE%")
def tick(timer: func.TimerRequest) -> None:
    record("ticks", {"past_due": timer.past_due, "now": system_clock.now().isoformat()})
