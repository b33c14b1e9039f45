"""The simulator's settings, read once from ``SIMULATOR_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A fixed, obviously fake secret: local runs and tests sign with it unless told otherwise.
DEFAULT_APP_SECRET = "simulator-dev-app-secret-0000000"  # noqa: S105  (public, dev only)
DEFAULT_BOT_SECRET = "simulator-dev-bot-secret-0000000"  # noqa: S105  (public, dev only)


class SimulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    host: str = Field("127.0.0.1", alias="SIMULATOR_HOST")
    port: int = Field(7072, alias="SIMULATOR_PORT", gt=0, lt=65536)
    app_id: str = Field("100000000000001", alias="SIMULATOR_APP_ID", pattern=r"^\d+$")
    app_secret: str = Field(DEFAULT_APP_SECRET, alias="SIMULATOR_APP_SECRET", min_length=1)
    app_name: str = Field("Messenger Channel (simulated)", alias="SIMULATOR_APP_NAME")
    webhook_base_url: str = Field(
        "http://127.0.0.1:7071/api/facebook/webhook", alias="SIMULATOR_WEBHOOK_BASE_URL"
    )
    graph_version: str = Field("v25.0", alias="SIMULATOR_GRAPH_VERSION", pattern=r"^v\d+\.\d+$")
    state_file: Path | None = Field(None, alias="SIMULATOR_STATE_FILE")
    clock_offset_seconds: float = Field(0.0, alias="SIMULATOR_CLOCK_OFFSET_SECONDS")
    # Meta gives a webhook 5 seconds before it counts the delivery as failed.
    webhook_timeout_seconds: float = Field(5.0, alias="SIMULATOR_WEBHOOK_TIMEOUT_SECONDS", gt=0)
    # The example bot (``simulator/bot.py``) checks the product's signature with this.
    bot_secret: str = Field(DEFAULT_BOT_SECRET, alias="SIMULATOR_BOT_SECRET", min_length=16)

    @field_validator("webhook_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("state_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


def load_settings(**overrides: object) -> SimulatorSettings:
    """Settings from the environment; ``overrides`` (by alias) win, as the CLI flags do."""
    return SimulatorSettings(**overrides)  # type: ignore[arg-type]  # aliases, not field names
