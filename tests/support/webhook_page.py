"""An account with a Running page whose webhook runs in process, and the real router over the
local queue: for tests that post signed bodies as Meta does and route what was queued."""

from __future__ import annotations

from messenger_channel.bus.local import LocalQueue
from messenger_channel.conversations.inbound import process_inbound
from messenger_channel.facebook.signature import sign
from messenger_channel.ingress.webhook import WebhookIngress, build_ingress
from messenger_channel.provisioning.service import ChannelSetup
from messenger_channel.services import Services
from simulator.client import SimulatorClient
from tests.support.engine import new_id


class WebhookPage:
    def __init__(self, services: Services, simulator: SimulatorClient, name: str,
                 app_secret: str) -> None:
        self.services = services
        self.app_secret = app_secret
        app_id, self.page_id = new_id(), new_id()
        simulator.put_app(app_id, app_secret)
        channel = ChannelSetup(services)
        self.account_id = channel.create_account(name, app_id, app_secret).id
        token = simulator.put_page(self.page_id, f"{name} page", app_id=app_id,
                                   account_id=self.account_id)["access_token"]
        channel.add_page(self.account_id, self.page_id, f"{name} page", token)
        self.ingress: WebhookIngress = build_ingress(services)
        assert isinstance(services.queue, LocalQueue)
        self.queue = services.queue

    def post_body(self, body: bytes) -> int:
        """The webhook's HTTP status for ``body``, signed with the app secret."""
        return self.ingress.receive(self.account_id, sign(self.app_secret, body), body).status

    def route(self) -> int:
        """Every queued message through the router, as the host runs it; how many. An
        exception fails the test (the host would redeliver it, then dead-letter it)."""
        routed = 0
        while (queued := self.queue.receive("inbound")) is not None:
            process_inbound(self.services, queued.body)
            self.queue.complete(queued)
            routed += 1
        return routed
