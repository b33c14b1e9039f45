"""Choose the live adapter the settings ask for: Web PubSub in Azure, the devhost's socket
locally, nothing when Azure has no Web PubSub configured (clients poll)."""

from __future__ import annotations

from messenger_channel.clock import Clock
from messenger_channel.live.disabled import DisabledPublisher
from messenger_channel.live.guard import GuardedPublisher
from messenger_channel.live.local import LocalLivePublisher, open_local_live
from messenger_channel.live.port import LivePublisher
from messenger_channel.live.webpubsub import WebPubSubPublisher
from messenger_channel.settings import Settings


def live_publisher_from_settings(settings: Settings, clock: Clock) -> GuardedPublisher:
    inner: LivePublisher
    if settings.web_pubsub_endpoint:
        inner = WebPubSubPublisher.from_endpoint(settings.web_pubsub_endpoint,
                                                 settings.web_pubsub_hub, clock)
    elif settings.queue_backend == "local":
        # The devhost serves the socket at the public base URL and shares this LocalLive.
        inner = LocalLivePublisher(open_local_live(settings.local_data_dir, clock),
                                   settings.public_base_url, settings.web_pubsub_hub)
    else:
        inner = DisabledPublisher()
    return GuardedPublisher(inner, clock)
