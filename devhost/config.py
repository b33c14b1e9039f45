"""The devhost's own settings (local host only; the app reads messenger_channel.settings)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from messenger_channel.settings import SettingsError


@dataclass(frozen=True)
class DevhostConfig:
    port: int
    clock_offset_seconds: float
    management_api_key: str
    data_dir: Path
    run_triggers: bool
    queue_concurrency: int
    max_request_bytes: int
    # The local queues' lock duration; None: their specs' (Service Bus's, 1 minute). Tests
    # shorten it to outlive a lock in seconds.
    queue_lock_seconds: float | None = None

    @classmethod
    def from_environment(cls) -> DevhostConfig:
        key = os.environ.get("MANAGEMENT_API_KEY", "")
        if not key:
            raise SettingsError("invalid settings: MANAGEMENT_API_KEY: Field required")
        return cls(
            port=_int("DEVHOST_PORT", 7071),
            clock_offset_seconds=_float("DEVHOST_CLOCK_OFFSET_SECONDS", 0.0),
            management_api_key=key,
            data_dir=Path(os.environ.get("LOCAL_DATA_DIR", ".devdata")),
            run_triggers=os.environ.get("DEVHOST_RUN_TRIGGERS", "1").lower()
            not in ("0", "false", "no"),
            queue_concurrency=_int("DEVHOST_QUEUE_CONCURRENCY", 4),
            # The Functions host's own request limit (100 MB); the app applies stricter ones.
            max_request_bytes=_int("DEVHOST_MAX_REQUEST_BYTES", 100 * 1024 * 1024),
            queue_lock_seconds=_float("DEVHOST_QUEUE_LOCK_SECONDS", 0.0) or None,
        )


def apply_local_settings(path: Path) -> None:
    """Like Core Tools: ``local.settings.json`` Values become environment variables, without
    overriding variables that are already set."""
    if not path.exists():
        return
    try:
        values = json.loads(path.read_text()).get("Values", {})
    except (ValueError, AttributeError):
        raise SettingsError(f"{path} is not valid JSON with a Values object") from None
    for name, value in values.items():
        os.environ.setdefault(str(name), str(value))


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"invalid settings: {name}: must be an integer") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"invalid settings: {name}: must be a number") from None
