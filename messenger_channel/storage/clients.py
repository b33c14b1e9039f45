"""What the table and blob stores share about the Azure SDK clients: the credential, the
network defaults, and the translation of SDK exceptions into the storage layer's errors."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Self

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from messenger_channel.settings import SettingsError
from messenger_channel.storage.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    NotFound,
    StorageUnavailable,
)

# The SDKs' defaults (socket timeouts of minutes, retries backing off for a minute or more)
# would hold a function invocation while storage is down. Each store adds retry settings in
# its SDK's own terms and fails within seconds: the queue redelivers, Meta retries a webhook.
NETWORK_DEFAULTS: dict[str, Any] = {"connection_timeout": 5, "read_timeout": 30}

# Throttling and server-side failures are transient; every other 4xx is the caller's bug.
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


if TYPE_CHECKING:
    from messenger_channel.settings import Settings


@functools.cache
def default_credential() -> TokenCredential:
    """One ``DefaultAzureCredential`` per process, so its token cache is shared by every client
    (managed identity in Azure, the developer's login elsewhere)."""
    from azure.identity import DefaultAzureCredential  # only identity-based setups need it

    return DefaultAzureCredential()


@contextmanager
def translate_errors(subject: str) -> Iterator[None]:
    """Turn the SDK's exceptions into storage errors; ``subject`` names what was touched."""
    try:
        yield
    except ResourceExistsError as error:
        raise AlreadyExists(f"{subject} already exists") from error
    except ResourceNotFoundError as error:
        raise NotFound(f"{subject} not found") from error
    except ResourceModifiedError as error:
        raise ConcurrencyConflict(f"{subject} was changed since it was read") from error
    except (ServiceRequestError, ServiceResponseError) as error:
        raise StorageUnavailable(
            f"{subject}: storage unreachable ({type(error).__name__})"
        ) from error
    except ClientAuthenticationError as error:
        # Also azure-identity's CredentialUnavailableError: no identity to sign in with.
        raise StorageUnavailable(f"{subject}: storage refused the credentials") from error
    except HttpResponseError as error:
        if error.status_code in (401, 403):  # a bad key or signature, a missing role
            raise StorageUnavailable(
                f"{subject}: storage refused the credentials (HTTP {error.status_code})"
            ) from error
        if error.status_code in _TRANSIENT_STATUS:
            raise StorageUnavailable(
                f"{subject}: storage answered HTTP {error.status_code}"
            ) from error
        raise


class ServiceStore:
    """How the table and blob stores are built: from a connection string (Azurite, an account
    key), from an endpoint with an identity, or from the app's settings, whichever applies."""

    SERVICE_CLIENT: ClassVar[Any]  # TableServiceClient or BlobServiceClient
    ENDPOINT_SETTING: ClassVar[str]  # named when an identity-based setup lacks the endpoint

    def __init__(self, service: Any, *, prefix: str = "",
                 options: dict[str, Any] | None = None) -> None:
        self._service = service
        self._prefix = prefix
        # The SDK client's settings, for clients this store makes beside the service's.
        self._options = self.client_options({}) if options is None else options
        # Containers or tables this store has made sure exist: created once per store.
        self._created: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def client_options(overrides: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def settings_endpoint(settings: Settings) -> str | None:
        raise NotImplementedError

    @classmethod
    def from_connection_string(cls, connection_string: str, *, prefix: str = "",
                               **options: Any) -> Self:
        """Azurite or a storage account key; ``options`` go to the SDK client."""
        settings = cls.client_options(options)
        service = cls.SERVICE_CLIENT.from_connection_string(connection_string, **settings)
        return cls(service, prefix=prefix, options=settings)

    @classmethod
    def from_endpoint(cls, endpoint: str, *, credential: TokenCredential | None = None,
                      prefix: str = "", **options: Any) -> Self:
        """Identity-based: ``DefaultAzureCredential`` unless a credential is given."""
        settings = cls.client_options(options)
        service = cls.SERVICE_CLIENT(endpoint, credential=credential or default_credential(),
                                     **settings)
        return cls(service, prefix=prefix, options=settings)

    @classmethod
    def from_settings(cls, settings: Settings, *, prefix: str = "", **options: Any) -> Self:
        if settings.storage_connection_string is not None:
            return cls.from_connection_string(
                settings.storage_connection_string.get_secret_value(), prefix=prefix, **options)
        endpoint = cls.settings_endpoint(settings)
        if endpoint is None:
            raise SettingsError(f"{cls.ENDPOINT_SETTING}: required for an identity-based "
                                "connection (or set AzureWebJobsStorage__accountName)")
        return cls.from_endpoint(endpoint, prefix=prefix, **options)
