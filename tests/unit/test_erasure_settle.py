"""The erasure's final re-check waits out every execution in flight: ``SETTLE`` must cover
the host's ``functionTimeout`` (host.json), with a minute for the instances' clocks."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from messenger_channel.privacy.erasure_job import SETTLE

HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"


def test_settle_covers_the_function_timeout() -> None:
    hours, minutes, seconds = json.loads(HOST_JSON.read_text())["functionTimeout"].split(":")
    timeout = timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds))
    assert timeout + timedelta(minutes=1) <= SETTLE
