"""The channel's metrics (OpenTelemetry meters; customMetrics / AppMetrics in Azure).

=============================== ========= ==================================================
name                            unit      attributes
=============================== ========= ==================================================
``channel.messages.in``         message   ``kind`` (message, postback, read...)
``channel.messages.out``        message   —
``channel.send.failures``       message   ``reason`` (the send record's failure reason)
``channel.send.recovered``      message   ``reason``: a failed send Facebook's echo proved
                                          sent (failures minus these: those that did fail)
``channel.queue.lag``           s         ``queue``: enqueued (or due) → processing started
``channel.offer.wait``          s         ``queue``: offered → accepted by an agent
=============================== ========= ==================================================

Attributes are closed sets (kinds, reasons, queue names and ids), never free text, so the
series stay few. Instruments come from the global meter provider, looked up at each record:
the provider is set after import (the distro in Azure), and the API hands out no-ops before.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from opentelemetry.metrics import Counter, Histogram, MeterProvider, get_meter_provider

METER_NAME = "messenger_channel"


@dataclass(frozen=True)
class _Instruments:
    messages_in: Counter
    messages_out: Counter
    send_failures: Counter
    send_recoveries: Counter
    queue_lag: Histogram
    offer_wait: Histogram


@cache
def _instruments(provider: MeterProvider) -> _Instruments:
    meter = provider.get_meter(METER_NAME)
    return _Instruments(
        meter.create_counter("channel.messages.in", "message", "customer events routed"),
        meter.create_counter("channel.messages.out", "message", "messages sent to Messenger"),
        meter.create_counter("channel.send.failures", "message", "sends that failed for good"),
        meter.create_counter("channel.send.recovered", "message",
                             "failed sends an echo proved sent"),
        meter.create_histogram("channel.queue.lag", "s", "from enqueued to processed"),
        meter.create_histogram("channel.offer.wait", "s", "from offered to accepted"),
    )


def _current() -> _Instruments:
    return _instruments(get_meter_provider())


def message_in(kind: str) -> None:
    _current().messages_in.add(1, {"kind": kind})


def message_out() -> None:
    _current().messages_out.add(1)


def send_failed(reason: str) -> None:
    _current().send_failures.add(1, {"reason": reason})


def send_recovered(reason: str) -> None:
    _current().send_recoveries.add(1, {"reason": reason})


def queue_lag(queue: str, seconds: float) -> None:
    _current().queue_lag.record(seconds, {"queue": queue})


def offer_wait(queue: str, seconds: float) -> None:
    _current().offer_wait.record(seconds, {"queue": queue})
