"""The settings choose the live adapter; a failing one never raises and pauses a while."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from messenger_channel import metering
from messenger_channel.clock import Clock
from messenger_channel.live.disabled import DisabledPublisher
from messenger_channel.live.factory import live_publisher_from_settings
from messenger_channel.live.guard import GuardedPublisher
from messenger_channel.live.local import LocalLivePublisher
from messenger_channel.live.port import Audience, ClientAccess, Hint, LiveUnavailable
from messenger_channel.live.webpubsub import WebPubSubPublisher
from messenger_channel.settings import SettingsError, load_settings

AT = datetime(2026, 3, 1, tzinfo=UTC)
HINT = Hint("conversation.updated", AT, "cv_1")
SOMEONE = Audience.of(["agent:a"])


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("QUEUE_BACKEND", "WEB_PUBSUB_ENDPOINT", "WEB_PUBSUB_HUB", "LOCAL_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://channel.example.com")
    monkeypatch.setenv("MANAGEMENT_API_KEY", "k" * 32)
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("KEY_VAULT_URL", "https://vault.example.com")
    monkeypatch.setenv("ServiceBusConnection__fullyQualifiedNamespace", "sb.example.com")
    return monkeypatch


def test_web_pubsub_when_an_endpoint_is_set(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("WEB_PUBSUB_ENDPOINT", "https://contoso.webpubsub.azure.com/")
    publisher = live_publisher_from_settings(load_settings(), Clock())
    assert isinstance(publisher.inner, WebPubSubPublisher)


def test_devhost_serves_it_itself(environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    environment.setenv("QUEUE_BACKEND", "local")
    environment.setenv("LOCAL_DATA_DIR", str(tmp_path))
    environment.setenv("WEB_PUBSUB_HUB", "desk")
    publisher = live_publisher_from_settings(load_settings(), Clock())
    assert isinstance(publisher.inner, LocalLivePublisher)
    url = publisher.client_access("agent:a", [], 5).url
    assert url.startswith("wss://channel.example.com/client/hubs/desk?access_token=")


def test_azure_without_web_pubsub_publishes_nothing() -> None:
    publisher = live_publisher_from_settings(load_settings(), Clock())
    assert isinstance(publisher.inner, DisabledPublisher)
    publisher.publish(HINT, SOMEONE)
    with pytest.raises(LiveUnavailable):
        publisher.client_access("agent:a", [], 5)


@pytest.mark.parametrize(("name", "value"), [("WEB_PUBSUB_ENDPOINT", "contoso.webpubsub"),
                                             ("WEB_PUBSUB_HUB", "9hub")])
def test_bad_settings_are_named(environment: pytest.MonkeyPatch, name: str,
                                value: str) -> None:
    environment.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


class Flaky:
    def __init__(self) -> None:
        self.failing = True
        self.calls = 0

    def publish(self, hint: Hint, audience: Audience) -> None:
        self.calls += 1
        if self.failing:
            raise LiveUnavailable("Web PubSub refused a hint: ServiceRequestError")

    def client_access(self, user_id: str, groups: Any, minutes: int) -> ClientAccess:
        raise LiveUnavailable("no")


def test_a_failure_is_swallowed_then_hints_pause(caplog: pytest.LogCaptureFixture) -> None:
    clock, inner = Clock(), Flaky()
    guarded = GuardedPublisher(inner, clock, pause=timedelta(seconds=30))
    before = metering.snapshot()
    guarded.publish(HINT, SOMEONE)  # fails: logged, not raised
    guarded.publish(HINT, SOMEONE)  # paused: the service is not even called
    assert inner.calls == 1
    used = metering.difference(before, metering.snapshot())
    assert used["live.failed"] == 1 and used["live.skipped"] == 1
    assert [r.getMessage() for r in caplog.records] == ["live hint not published; hints paused"]
    clock.set_offset(31)
    inner.failing = False
    guarded.publish(HINT, SOMEONE)
    guarded.publish(HINT, SOMEONE)
    assert inner.calls == 3
    guarded.publish(HINT, Audience())  # nobody to tell: no call
    assert inner.calls == 3
    with pytest.raises(LiveUnavailable):  # negotiate answers it (503)
        guarded.client_access("agent:a", [], 5)
