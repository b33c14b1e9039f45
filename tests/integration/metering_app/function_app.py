"""A FunctionApp whose functions write to Table Storage (Azurite), for the metering tests."""

import json
import os
from pathlib import Path

import azure.functions as func

from messenger_channel.bus.local import open_local_queue
from messenger_channel.bus.port import QueueMessage
from messenger_channel.clock import system_clock
from messenger_channel.storage.tables import Entity, TableStore

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
DATA = Path(os.environ["LOCAL_DATA_DIR"])
STORE = TableStore.from_connection_string(os.environ["METERING_TEST_STORAGE"],
                                          prefix=os.environ["METERING_TEST_PREFIX"])


class Note(Entity):
    key: str
    text: str

    def partition_key(self) -> str:
        return "notes"

    def row_key(self) -> str:
        return self.key


NOTES = STORE.table("Notes", Note)


@app.route(route="notes/{key}", methods=["PUT"])
def put_note(req: func.HttpRequest) -> func.HttpResponse:
    NOTES.upsert(Note(key=req.route_params["key"], text=req.get_body().decode()))
    return func.HttpResponse(status_code=204)


@app.route(route="enqueue", methods=["POST"])
def enqueue(req: func.HttpRequest) -> func.HttpResponse:
    items = req.get_json()
    open_local_queue(DATA / "queues.sqlite", system_clock).send("inbound", [
        QueueMessage(body=json.dumps(item).encode(), session_id="s", message_id=item["key"])
        for item in items])
    return func.HttpResponse(status_code=202)


@app.function_name("router")
@app.service_bus_queue_trigger(arg_name="msg", queue_name="inbound",
                               connection="ServiceBusConnection", is_sessions_enabled=True)
def router(msg: func.ServiceBusMessage) -> None:
    item = json.loads(msg.get_body())
    NOTES.create(Note(key=item["key"], text="from the queue"))
    NOTES.get("notes", item["key"])
