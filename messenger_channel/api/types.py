"""Field types shared by the API's response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import PlainSerializer

from messenger_channel.clock import isoformat

# API.md writes times as ISO 8601 UTC to the second: 2026-11-25T16:22:11Z.
ApiTime = Annotated[datetime, PlainSerializer(isoformat, return_type=str, when_used="json")]
