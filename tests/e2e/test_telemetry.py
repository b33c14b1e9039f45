"""One customer message, followed in the devhost's JSON log by its id: the webhook request,
the router's run, the sender's run and the Graph call are spans of one trace, each a line with
its duration, outcome and ids; no message text and no token in any of it."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx

from tests.e2e.test_channel_setup import SECRETS_USED, add_page, new_account, new_page_token
from tests.support.eventually import eventually
from tests.support.product import MANAGEMENT_KEY, Product, new_id


def _created(answer: httpx.Response) -> Any:
    assert answer.status_code == 201, answer.text
    return answer.json()


def _spans(product: Product) -> list[dict[str, Any]]:
    """The span lines of the devhost's log (other lines and other processes' are skipped)."""
    found = []
    for line in product.logs().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if "span" in record:
                found.append(record)
    return found


def _trace_of(product: Product, trace_id: str, names: set[str]) -> dict[str, dict[str, Any]]:
    """The trace's spans by name (the request's as ``request``), once every name in ``names``
    has ended."""
    def spans() -> dict[str, dict[str, Any]]:
        return {"request" if s["kind"] == "server" else s["span"]: s
                for s in _spans(product) if s["trace_id"] == trace_id}
    return eventually(spans, lambda found: names <= found.keys(),
                      what=f"spans {sorted(names)} of trace {trace_id}")


def test_one_customer_message_is_one_trace_in_the_json_log(product: Product) -> None:
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    add_page(product, account, page_id, token)
    queue = _created(product.manage.post("/queues", json={"name": f"Telemetry {page_id}"}))
    agent = _created(product.manage.post("/agents", json={
        "name": "Ann", "queue_ids": [queue["id"]], "presence": "available"}))
    greeting = f"Greeting canary {secrets.token_hex(6)}"
    _created(product.manage.post("/workstreams", json={
        "name": "Support", "page_id": page_id, "fallback_queue_id": queue["id"],
        "automated_messages": {"greeting": {"en-US": greeting}}}))
    psid = new_id()
    product.simulator.put_user(psid, page_id, first_name="Tia", last_name="Canary")
    text = f"Customer canary {secrets.token_hex(6)}"
    said = product.simulator.say(account.id, page_id, psid, text)
    assert said["ok"], said

    # A developer greps the log for the mid: the router's run carries it...
    [routed] = eventually(
        lambda: [s for s in _spans(product) if s.get("message_id") == said["mid"]],
        nudge=lambda: product.run_function("router"), what="the router's span of the mid")
    assert routed["span"] == "router" and routed["kind"] == "consumer"
    assert routed["page_id"] == page_id and routed["event_id"].startswith("message-")
    assert routed["outcome"] == "ok" and routed["duration_ms"] >= 0
    # ... and its trace id leads to the webhook request before it and the greeting's send after.
    request, sender, graph = "request", "sender", "graph send_message"
    trace = _trace_of(product, routed["trace_id"], {request, sender, graph})
    assert trace[request]["span"].startswith("POST api/facebook/webhook/")
    assert trace[request]["parent_span_id"] is None
    assert trace[request]["http.response.status_code"] == 200
    assert trace[request]["function"] == "facebook_webhook"
    assert routed["parent_span_id"] == trace[request]["span_id"]
    assert trace[sender]["parent_span_id"] == routed["span_id"]
    assert trace[sender]["conversation_id"] and trace[sender]["queue"] == "outbound"
    # The router's run names the conversation the message landed in, as the sender's does.
    assert routed["conversation_id"] == trace[sender]["conversation_id"]
    assert trace[graph]["parent_span_id"] == trace[sender]["span_id"]
    assert trace[graph]["kind"] == "client" and trace[graph]["outcome"] == "ok"
    [sent] = [s for s in product.simulator.sent(page_id=page_id, psid=psid)
              if s.get("message", {}).get("text") == greeting]
    assert trace[graph]["facebook_message_id"] == sent["message_id"]
    # Log lines written during the run carry the trace too.
    logged = [json.loads(line) for line in product.logs().splitlines()
              if line.startswith("{") and routed["trace_id"] in line]
    assert any("span" not in line for line in logged), "no log line inside the trace"

    # The agent's reply is a trace of its own: the request, the sender, the Graph call.
    reply = f"Agent canary {secrets.token_hex(6)}"
    with httpx.Client(base_url=f"{product.devhost_url}/api/agent", timeout=30,
                      headers={"Authorization": f"Bearer {agent['api_key']}"}) as desk:
        conversation_id = trace[sender]["conversation_id"]
        eventually(lambda: desk.post(f"/conversations/{conversation_id}/accept").status_code,
                   lambda status: status == 200, nudge=lambda: product.run_function("distribute"))
        answer = desk.post(f"/conversations/{conversation_id}/messages", json={"text": reply})
        assert answer.status_code == 202, answer.text
    replied = eventually(
        lambda: [s for s in _spans(product) if s["span"] == "sender"
                 and s.get("conversation_id") == conversation_id
                 and s["trace_id"] != routed["trace_id"]],
        nudge=lambda: product.run_function("sender"), what="the reply's sender span")
    reply_trace = _trace_of(product, replied[0]["trace_id"], {"request", "graph send_message"})
    assert reply_trace["request"]["span"] == "POST api/agent/conversations/{id}/messages"
    assert reply_trace["request"]["http.response.status_code"] == 202

    # Nothing the customer or the agent wrote, and no token, in the log or the spans.
    log = product.logs()
    for secret in (text, greeting, reply, token, agent["api_key"], account.body["verify_token"],
                   MANAGEMENT_KEY, *SECRETS_USED):  # the app secrets among them
        assert secret not in log
