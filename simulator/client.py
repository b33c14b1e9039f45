"""A small client for the simulator's control API, for the product's tests and scripts.

    with SimulatorClient("http://127.0.0.1:7072") as sim:
        sim.put_page("1001", "Contoso Support", access_token="EAA-test", account_id="acc-1")
        sim.say("acc-1", "1001", "2001", "Hello")
        assert sim.sent(page_id="1001") == []
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx


class SimulatorError(Exception):
    """The simulator refused a control call; ``status`` and ``body`` say why."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"simulator answered {status}: {body}")
        self.status = status
        self.body = body


class SimulatorClient:
    def __init__(self, base_url: str = "http://127.0.0.1:7072", *, timeout: float = 30.0,
                 http: httpx.Client | None = None) -> None:
        """``http`` replaces the HTTP client, e.g. with a TestClient around ``create_app()``."""
        self.base_url = base_url.rstrip("/")
        self._owns_http = http is None
        self._http = http or httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> SimulatorClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def graph_url(self, version: str = "v25.0") -> str:
        """What the product's ``FACEBOOK_GRAPH_URL`` should be."""
        return f"{self.base_url}/{version}"

    def _call(self, method: str, path: str, *, json: Any = None,
              params: dict[str, Any] | None = None, raw: bool = False) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        answer = self._http.request(method, f"/_sim{path}", json=json, params=query)
        if answer.status_code >= 400:
            try:
                body: Any = answer.json()
            except ValueError:
                body = answer.text
            raise SimulatorError(answer.status_code, body)
        if raw:
            return answer.content
        if answer.status_code == 204:
            return None
        return answer.json()

    # -- setup -------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def reset(self) -> None:
        self._call("POST", "/reset")

    def config(self, **changes: bool) -> dict[str, Any]:
        """Change ``auto_echo``, ``auto_delivery``, ``auto_read``, ``require_subscription``."""
        result: dict[str, Any] = self._call("PUT", "/config", json=changes)
        return result

    def set_clock(self, offset_seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", "/clock",
                                            json={"offset_seconds": offset_seconds})
        return result

    def put_app(self, app_id: str, app_secret: str, name: str | None = None, *,
                webhook_url: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", f"/apps/{app_id}", json=_drop_none(
            app_secret=app_secret, name=name, webhook_url=webhook_url))
        return result

    def put_page(self, page_id: str, name: str, *, app_id: str | None = None,
                 access_token: str | None = None,
                 account_id: str | None = None) -> dict[str, Any]:
        """Create the page with a valid, never-expiring token (answered as ``access_token``)."""
        body = _drop_none(name=name, app_id=app_id, access_token=access_token,
                          account_id=account_id)
        result: dict[str, Any] = self._call("PUT", f"/pages/{page_id}", json=body)
        return result

    def put_token(self, token: str, **changes: Any) -> dict[str, Any]:
        """Change ``state``, ``expires_at``, ``data_access_expires_at``, ``scopes``..."""
        result: dict[str, Any] = self._call("PUT", f"/tokens/{token}", json=changes)
        return result

    def put_user(self, psid: str, page_id: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", f"/users/{psid}",
                                            json={"page_id": page_id, **fields})
        return result

    def drop_subscriptions(self, page_id: str) -> None:
        self._call("DELETE", f"/subscriptions/{page_id}")

    def subscriptions(self) -> dict[str, dict[str, list[str]]]:
        result: dict[str, dict[str, list[str]]] = self._call("GET", "/subscriptions")
        return result

    # -- the handover protocol ---------------------------------------------------------------

    def put_roles(self, page_id: str, primary_receiver_app_id: str | None,
                  secondary_receiver_app_ids: list[str] | None = None) -> dict[str, Any]:
        """App roles on the page; from now on its events go out by thread ownership."""
        result: dict[str, Any] = self._call("PUT", f"/pages/{page_id}/roles", json={
            "primary_receiver_app_id": primary_receiver_app_id,
            "secondary_receiver_app_ids": secondary_receiver_app_ids or []})
        return result

    def drop_roles(self, page_id: str) -> None:
        self._call("DELETE", f"/pages/{page_id}/roles")

    def thread_owner(self, page_id: str, psid: str) -> str | None:
        result: dict[str, Any] = self._call("GET", f"/pages/{page_id}/threads/{psid}")
        owner: str | None = result["owner_app_id"]
        return owner

    def set_thread_owner(self, page_id: str, psid: str, app_id: str | None) -> None:
        self._call("PUT", f"/pages/{page_id}/threads/{psid}", json={"owner_app_id": app_id})

    def thread_action(self, page_id: str, psid: str, action: str, app_id: str, *,
                      target_app_id: str | None = None,
                      metadata: str | None = None) -> dict[str, Any]:
        """``pass``, ``take`` or ``request`` thread control as another app; a refusal raises
        ``SimulatorError`` with Graph's error body."""
        result: dict[str, Any] = self._call(
            "POST", f"/pages/{page_id}/threads/{psid}/{action}",
            json=_drop_none(app_id=app_id, target_app_id=target_app_id, metadata=metadata))
        return result

    # -- the customer's side -----------------------------------------------------------------

    def say(self, account_id: str, page_id: str, psid: str, text: str | None = None, *,
            timestamp: int | None = None, quick_reply_payload: str | None = None,
            attachment: dict[str, str] | None = None, mid: str | None = None,
            reply_to_mid: str | None = None, signature: str = "valid") -> dict[str, Any]:
        body = _drop_none(account_id=account_id, page_id=page_id, psid=psid, text=text,
                          timestamp=timestamp, quick_reply_payload=quick_reply_payload,
                          attachment=attachment, mid=mid, reply_to_mid=reply_to_mid,
                          signature=signature)
        result: dict[str, Any] = self._call("POST", "/say", json=body)
        return result

    def post_webhook(self, account_id: str, payload: dict[str, Any] | None = None, *,
                     raw: str | None = None, signature: str = "valid",
                     app_id: str | None = None) -> dict[str, Any]:
        body = _drop_none(account_id=account_id, payload=payload, raw=raw, signature=signature,
                          app_id=app_id)
        result: dict[str, Any] = self._call("POST", "/webhook", json=body)
        return result

    # -- faults ------------------------------------------------------------------------------

    def add_fault(self, **fault: Any) -> dict[str, Any]:
        """Arm a fault: ``code``, ``subcode``, ``kind``, ``page_id``, ``psid``, ``operation``..."""
        result: dict[str, Any] = self._call("POST", "/faults", json=fault)
        return result

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/faults")
        return result

    def remove_fault(self, fault_id: str) -> None:
        self._call("DELETE", f"/faults/{fault_id}")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    # -- what happened -----------------------------------------------------------------------

    def requests(self, path_contains: str | None = None, page_id: str | None = None,
                 limit: int | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", "/requests",
            params={"path_contains": path_contains, "page_id": page_id, "limit": limit})
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def sent(self, page_id: str | None = None, psid: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/sent",
                                                  params={"page_id": page_id, "psid": psid})
        return result

    def sender_actions(self, page_id: str | None = None,
                       psid: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/sender-actions",
                                                  params={"page_id": page_id, "psid": psid})
        return result

    def uploads(self, page_id: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/uploads", params={"page_id": page_id})
        return result

    def upload_content(self, attachment_id: str) -> bytes:
        result: bytes = self._call("GET", f"/uploads/{attachment_id}/content", raw=True)
        return result

    def webhook_deliveries(self, page_id: str | None = None, kind: str | None = None,
                           app_id: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", "/webhook-deliveries",
            params={"page_id": page_id, "kind": kind, "app_id": app_id})
        return result

    def clear_webhook_deliveries(self) -> None:
        self._call("DELETE", "/webhook-deliveries")


def _drop_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
