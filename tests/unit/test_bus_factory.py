"""The settings choose the queue adapter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from messenger_channel.bus.factory import queue_sender_from_settings
from messenger_channel.bus.local import LocalQueue, open_local_queue
from messenger_channel.bus.servicebus import ServiceBusQueueSender
from messenger_channel.clock import Clock
from messenger_channel.settings import load_settings


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("QUEUE_BACKEND", "ServiceBusConnection",
                 "ServiceBusConnection__fullyQualifiedNamespace", "LOCAL_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://channel.example.com")
    monkeypatch.setenv("MANAGEMENT_API_KEY", "k" * 32)
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("KEY_VAULT_URL", "https://vault.example.com")
    return monkeypatch


def test_local_backend_shares_the_devhosts_queue_file(
        environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    environment.setenv("QUEUE_BACKEND", "local")
    environment.setenv("LOCAL_DATA_DIR", str(tmp_path))
    clock = Clock()
    sender = queue_sender_from_settings(load_settings(), clock)
    assert isinstance(sender, LocalQueue)
    try:
        assert sender is open_local_queue(tmp_path / "queues.sqlite", clock)
    finally:
        sender.close()


def record_constructors(environment: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []

    def constructor(kind: str) -> Callable[[str], FakeSender]:
        def build(value: str) -> FakeSender:
            calls.append((kind, value))
            return FakeSender()
        return build

    # Called on the class, a plain function stands in for the classmethod.
    environment.setattr(ServiceBusQueueSender, "from_connection_string",
                        constructor("connection string"))
    environment.setattr(ServiceBusQueueSender, "from_namespace", constructor("namespace"))
    return calls


class FakeSender:
    """Stands in for the SDK-backed sender, which the factory only constructs."""


CONNECTION_STRING = ("Endpoint=sb://example.servicebus.windows.net/;"
                     "SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0")


def test_servicebus_backend_uses_the_connection_string_when_set(
        environment: pytest.MonkeyPatch) -> None:
    calls = record_constructors(environment)
    environment.setenv("ServiceBusConnection", CONNECTION_STRING)
    environment.setenv("ServiceBusConnection__fullyQualifiedNamespace",
                       "example.servicebus.windows.net")
    assert isinstance(queue_sender_from_settings(load_settings(), Clock()), FakeSender)
    assert calls == [("connection string", CONNECTION_STRING)]


def test_servicebus_backend_uses_the_namespace_with_an_identity(
        environment: pytest.MonkeyPatch) -> None:
    calls = record_constructors(environment)
    environment.setenv("ServiceBusConnection__fullyQualifiedNamespace",
                       "example.servicebus.windows.net")
    assert isinstance(queue_sender_from_settings(load_settings(), Clock()), FakeSender)
    assert calls == [("namespace", "example.servicebus.windows.net")]


def test_servicebus_backend_builds_a_real_sender(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("ServiceBusConnection", CONNECTION_STRING)
    sender = queue_sender_from_settings(load_settings(), Clock())
    assert isinstance(sender, ServiceBusQueueSender)
    sender.close()
