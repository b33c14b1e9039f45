"""The app's settings, read once from the environment (Functions app settings or the devhost).

Names are those of the settings table in API.md. A missing or invalid setting stops start-up
with a ``SettingsError`` that names it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v25.0"
MIN_KEY_LENGTH = 16


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it and never shows its value."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", env_ignore_empty=True)

    facebook_graph_url: str = Field(DEFAULT_GRAPH_URL, alias="FACEBOOK_GRAPH_URL")
    public_base_url: str = Field(alias="PUBLIC_BASE_URL")
    management_api_key: SecretStr = Field(alias="MANAGEMENT_API_KEY")

    storage_connection_string: SecretStr | None = Field(None, alias="AzureWebJobsStorage")
    storage_table_uri: str | None = Field(None, alias="AzureWebJobsStorage__tableServiceUri")
    storage_blob_uri: str | None = Field(None, alias="AzureWebJobsStorage__blobServiceUri")
    storage_account_name: str | None = Field(None, alias="AzureWebJobsStorage__accountName")

    queue_backend: Literal["servicebus", "local"] = Field("servicebus", alias="QUEUE_BACKEND")
    servicebus_namespace: str | None = Field(
        None, alias="ServiceBusConnection__fullyQualifiedNamespace"
    )
    servicebus_connection_string: SecretStr | None = Field(None, alias="ServiceBusConnection")
    key_vault_url: str | None = Field(None, alias="KEY_VAULT_URL")
    local_data_dir: Path = Field(Path(".devdata"), alias="LOCAL_DATA_DIR")

    webhook_max_body_bytes: int = Field(4 * 1024 * 1024, alias="WEBHOOK_MAX_BODY_BYTES", gt=0)
    token_warning_days: int = Field(14, alias="TOKEN_WARNING_DAYS", ge=1, le=365)
    token_check_schedule: str = Field("0 0 */6 * * *", alias="TOKEN_CHECK_SCHEDULE")
    alert_webhook_url: str | None = Field(None, alias="ALERT_WEBHOOK_URL")
    # How long a send whose outcome is unknown (the sender died or Graph did not answer) waits
    # for Facebook's echo before it is sent again; above Graph's timeout (10 s, two calls for
    # an attachment) plus the echo's usual delay.
    send_echo_grace_seconds: float = Field(60.0, alias="SEND_ECHO_GRACE_SECONDS", gt=0, le=3600)
    # Days a quarantined body and its rows are kept (they hold customers' words and ids): long
    # enough for an operator to look into an attack or a bug, then gone (privacy/retention.py).
    quarantine_retention_days: int = Field(30, alias="QUARANTINE_RETENTION_DAYS", ge=1, le=3650)
    # Live updates: Azure Web PubSub, identity-based; absent on the devhost (it serves the
    # socket itself) and, in Azure, the console only polls.
    web_pubsub_endpoint: str | None = Field(None, alias="WEB_PUBSUB_ENDPOINT")
    web_pubsub_hub: str = Field("console", alias="WEB_PUBSUB_HUB",
                                pattern=r"^[A-Za-z][A-Za-z0-9_`,.\[\]]{0,127}$")

    @field_validator(
        "facebook_graph_url",
        "public_base_url",
        "key_vault_url",
        "alert_webhook_url",
        "storage_table_uri",
        "storage_blob_uri",
        "web_pubsub_endpoint",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return None if value is None else value.rstrip("/")

    @field_validator("management_api_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        # A bearer key that opens every management route must not be guessable.
        if len(value.get_secret_value()) < MIN_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_KEY_LENGTH} characters")
        return value

    @model_validator(mode="after")
    def _connections(self) -> Settings:
        if not (
            self.storage_connection_string or self.storage_table_uri or self.storage_account_name
        ):
            raise ValueError(
                "AzureWebJobsStorage: set a connection string, or AzureWebJobsStorage__accountName "
                "/ AzureWebJobsStorage__tableServiceUri for an identity-based connection"
            )
        if self.queue_backend == "servicebus":
            if not (self.servicebus_namespace or self.servicebus_connection_string):
                raise ValueError(
                    "ServiceBusConnection__fullyQualifiedNamespace: required when "
                    "QUEUE_BACKEND is servicebus"
                )
            if not self.key_vault_url:
                raise ValueError(
                    "KEY_VAULT_URL: required outside the devhost (QUEUE_BACKEND=servicebus)"
                )
        return self

    @property
    def table_endpoint(self) -> str | None:
        if self.storage_table_uri:
            return self.storage_table_uri
        if self.storage_account_name:
            return f"https://{self.storage_account_name}.table.core.windows.net"
        return None

    @property
    def blob_endpoint(self) -> str | None:
        if self.storage_blob_uri:
            return self.storage_blob_uri
        if self.storage_account_name:
            return f"https://{self.storage_account_name}.blob.core.windows.net"
        return None


def load_settings() -> Settings:
    """Read and validate the settings; the error names each setting that is wrong."""
    try:
        return Settings()  # values come from the environment
    except ValidationError as error:
        problems = []
        for item in error.errors(include_input=False, include_url=False):
            name = ".".join(str(part) for part in item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {message}" if name else message)
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, read on first use."""
    return load_settings()
