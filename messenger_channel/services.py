"""The process-wide service objects the function modules share, built once from the settings."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from messenger_channel.bus.factory import queue_sender_from_settings
from messenger_channel.bus.port import QueueSender
from messenger_channel.clock import Clock, system_clock
from messenger_channel.facebook.graph import GraphClient
from messenger_channel.live.disabled import DisabledPublisher
from messenger_channel.live.factory import live_publisher_from_settings
from messenger_channel.live.port import LivePublisher
from messenger_channel.secrets import SecretStore, secret_store_from_settings
from messenger_channel.settings import Settings, get_settings
from messenger_channel.storage.blobs import BlobStore
from messenger_channel.storage.tables import TableStore


@dataclass(frozen=True)
class Services:
    settings: Settings
    clock: Clock
    tables: TableStore
    blobs: BlobStore
    queue: QueueSender
    secrets: SecretStore
    graph: GraphClient
    # Hints to the console; never raises (a ``GuardedPublisher`` in the app).
    live: LivePublisher = field(default_factory=DisabledPublisher)


@functools.cache
def get_services() -> Services:
    settings = get_settings()
    return Services(
        settings=settings,
        clock=system_clock,
        tables=TableStore.from_settings(settings),
        blobs=BlobStore.from_settings(settings),
        queue=queue_sender_from_settings(settings, system_clock),
        secrets=secret_store_from_settings(settings),
        graph=GraphClient(settings.facebook_graph_url),
        live=live_publisher_from_settings(settings, system_clock),
    )
