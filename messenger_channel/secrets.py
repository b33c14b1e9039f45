"""Where app secrets and page access tokens live: Key Vault in Azure, a local file on the devhost.

Tables hold a secret's name, never its value. Both stores take only names Key Vault accepts
(1 to 127 letters, digits and dashes, case-insensitive), so what works locally works in Azure.
Key Vault keeps a deleted secret's name (soft delete, maybe purge protection) and refuses to
reuse it, so every value written gets a fresh name from ``new_secret_name``.

No error message names a secret's value: only its name, which is a reference.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from secrets import token_hex
from typing import Any, Protocol

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.secrets import SecretClient

from messenger_channel.settings import Settings
from messenger_channel.storage.clients import NETWORK_DEFAULTS, default_credential

_NAME = re.compile(r"[0-9a-zA-Z-]{1,127}")
_KIND = re.compile(r"[a-z][a-z0-9-]{0,39}")
# Key Vault holds at most 25 KiB per secret value; the local store refuses what Azure would.
MAX_VALUE_BYTES = 25 * 1024
# check() reads this name: "not found" proves the vault is reachable and lets us read.
HEALTH_PROBE_NAME = "secret-store-health-probe"
# Throttling and server failures; everything else is a request Key Vault will always refuse.
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class SecretStoreError(Exception):
    """Base of the secret store's errors."""


class SecretNotFound(SecretStoreError):
    """No secret has this name (or it was deleted)."""


class SecretStoreUnavailable(SecretStoreError):
    """The store cannot be used now: unreachable, credentials refused, throttled, or (locally)
    a file that is unsafe or unreadable. Retry later, or fix what the message says."""


class InvalidSecret(SecretStoreError, ValueError):
    """A name Key Vault would refuse, or an empty or oversized value."""


class SecretStore(Protocol):
    def get(self, name: str) -> str:
        """The value; raises ``SecretNotFound``."""

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None:
        """Idempotent: deleting a missing secret is not an error."""

    def check(self) -> None:
        """Health check; raises ``SecretStoreUnavailable``."""


def new_secret_name(kind: str, owner_id: str) -> str:
    """A fresh, valid name such as ``page-token-1001-5f0c2e9a7b13d4c8``: readable in the vault,
    and never one that was used before (Key Vault would refuse a deleted name)."""
    if not _KIND.fullmatch(kind):
        raise ValueError("kind must be lowercase letters, digits and dashes, at most 40")
    owner = re.sub(r"[^0-9a-zA-Z]+", "-", owner_id).strip("-").lower()[:64] or "none"
    return f"{kind}-{owner}-{token_hex(8)}"


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        # The name is not echoed: a value passed here by mistake must not reach a log.
        raise InvalidSecret("a secret name must be 1 to 127 letters, digits and dashes "
                            "(Key Vault's rule)")
    return name


def _check_value(value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidSecret("a secret value must be a non-empty string")
    if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        raise InvalidSecret(f"a secret value holds at most {MAX_VALUE_BYTES} bytes")


def secret_store_from_settings(settings: Settings) -> SecretStore:
    """Key Vault when ``KEY_VAULT_URL`` is set; else the devhost's file (the settings allow
    that only with ``QUEUE_BACKEND=local``)."""
    if settings.key_vault_url:
        return KeyVaultSecretStore(settings.key_vault_url)
    return LocalSecretStore(settings.local_data_dir / "secrets.json")


# -- Key Vault --------------------------------------------------------------------------------


class _VaultSecret(Protocol):
    @property
    def value(self) -> str | None: ...


class _SecretClient(Protocol):
    """What the store uses of ``azure.keyvault.secrets.SecretClient``."""

    def get_secret(self, name: str) -> _VaultSecret: ...

    def set_secret(self, name: str, value: str) -> object: ...

    def begin_delete_secret(self, name: str) -> object: ...


class KeyVaultSecretStore:
    """Secrets in Key Vault. The identity needs the "Key Vault Secrets Officer" role."""

    def __init__(self, vault_url: str, credential: TokenCredential | None = None, *,
                 client: _SecretClient | None = None) -> None:
        # A few quick retries, not the SDK's minute of backoff: a function invocation must not
        # hang on a vault that is down; its queue message is redelivered instead.
        self._client: _SecretClient = client or SecretClient(
            vault_url, credential or default_credential(), retry_total=3, **NETWORK_DEFAULTS)

    def get(self, name: str) -> str:
        _check_name(name)
        failure: SecretStoreError
        try:
            value = self._client.get_secret(name).value
        except ResourceNotFoundError:
            failure = SecretNotFound(f"secret {name!r} does not exist")
        except AzureError as error:
            failure = _translate(error, f"reading secret {name!r}")
        else:
            if value is not None:
                return value
            failure = SecretNotFound(f"secret {name!r} has no value")
        # Raised out here, not in the handler: the SDK's exception (its request and response)
        # is not chained to ours.
        raise failure

    def set(self, name: str, value: str) -> None:
        _check_name(name)
        _check_value(value)
        try:
            self._client.set_secret(name, value)
            return
        except AzureError as error:
            failure = _translate(error, f"writing secret {name!r}", value)
        raise failure

    def delete(self, name: str) -> None:
        # The DELETE itself is done when begin_delete_secret returns; its poller would only
        # wait for the soft delete to be visible, which matters only before a purge.
        _check_name(name)
        try:
            self._client.begin_delete_secret(name)
            return
        except ResourceNotFoundError:
            return  # already gone
        except HttpResponseError as error:
            if error.status_code == 409:  # a delete of it is already under way
                return
            failure = _translate(error, f"deleting secret {name!r}")
        except AzureError as error:
            failure = _translate(error, f"deleting secret {name!r}")
        raise failure

    def check(self) -> None:
        try:
            self._client.get_secret(HEALTH_PROBE_NAME)
            return
        except ResourceNotFoundError:
            return
        except AzureError as error:
            # Whatever the vault refused, the store cannot be used: unhealthy.
            failure = SecretStoreUnavailable(str(_translate(error, "checking Key Vault")))
        raise failure


def _translate(error: AzureError, doing: str, value: str | None = None) -> SecretStoreError:
    detail = _summary(error, value)
    if isinstance(error, ClientAuthenticationError):
        # Also azure-identity's CredentialUnavailableError: no identity to sign in with.
        return SecretStoreUnavailable(f"{doing}: Key Vault refused the credentials ({detail})")
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return SecretStoreUnavailable(f"{doing}: Key Vault unreachable ({detail})")
    if isinstance(error, HttpResponseError):
        status = error.status_code or 0
        if status in (401, 403):
            return SecretStoreUnavailable(
                f"{doing}: Key Vault refused access (HTTP {status}); the identity needs the "
                f"'Key Vault Secrets Officer' role ({detail})")
        if status in _TRANSIENT_STATUS:
            return SecretStoreUnavailable(f"{doing}: Key Vault answered HTTP {status} ({detail})")
        if status == 409:
            return SecretStoreError(
                f"{doing}: the name belongs to a deleted secret that Key Vault keeps; "
                f"write under a new name (new_secret_name) ({detail})")
        return SecretStoreError(f"{doing}: Key Vault answered HTTP {status} ({detail})")
    return SecretStoreUnavailable(f"{doing}: {detail}")


def _summary(error: AzureError, value: str | None) -> str:
    """The SDK's first line, without the value (the service never echoes it; this makes sure)."""
    text = str(error.message or "")
    if value:
        text = text.replace(value, "[redacted]")  # before cutting, which could split the value
    text = (text.strip().splitlines() or [""])[0][:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# -- the devhost's file -----------------------------------------------------------------------


class LocalSecretStore:
    """One JSON file, owner-only (0600), written atomically under an ``flock``: safe across the
    devhost's threads and processes. Values are in clear text: for development only.

    Names are kept lowercase because Key Vault's names are case-insensitive."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock_path = path.with_name(f"{path.name}.lock")
        self._thread_lock = threading.Lock()
        self._read()  # refuse an unsafe or unreadable file at start-up, not at first use

    def get(self, name: str) -> str:
        key = _check_name(name).lower()
        value = self._read().get(key)
        if value is None:
            raise SecretNotFound(f"secret {name!r} does not exist")
        return value

    def set(self, name: str, value: str) -> None:
        key = _check_name(name).lower()
        _check_value(value)
        with self._locked():
            secrets = self._read()
            secrets[key] = value
            self._write(secrets)

    def delete(self, name: str) -> None:
        key = _check_name(name).lower()
        with self._locked():
            secrets = self._read()
            if secrets.pop(key, None) is not None:
                self._write(secrets)

    def check(self) -> None:
        self._read()
        directory = self._path.parent
        if directory.exists() and not os.access(directory, os.W_OK):
            raise SecretStoreUnavailable(f"{directory} is not writable")

    def _read(self) -> dict[str, str]:
        # No lock: writers replace the file in one rename, so a reader sees the old or the new.
        try:
            content = self._read_private_file()
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise SecretStoreUnavailable(
                f"cannot read {self._path}: {error.strerror} (a symlink is refused)") from None
        return _parse_file(content, self._path)

    def _read_private_file(self) -> bytes:
        with open(os.open(self._path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise SecretStoreUnavailable(
                    f"{self._path} can be read by others (mode {stat.filemode(mode)}); it holds "
                    f"secrets: run chmod 600 {self._path}")
            return file.read()

    def _write(self, secrets: dict[str, str]) -> None:
        body = json.dumps({"secrets": secrets}, indent=2, sort_keys=True).encode("utf-8")
        # mkstemp creates the file 0600, in the same directory so that os.replace is a rename.
        fd, temp = tempfile.mkstemp(dir=self._path.parent, prefix=f".{self._path.name}.",
                                    suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(body)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self._path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        _fsync_directory(self._path.parent)  # the rename itself survives a crash

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time: the thread lock within this process, flock across processes
        (on a separate file, since the secrets file is replaced on every write)."""
        with self._thread_lock:
            try:
                if not self._path.parent.exists():
                    self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            except OSError as error:
                raise SecretStoreUnavailable(
                    f"cannot lock {self._lock_path}: {error.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            except OSError as error:  # a full disk, a directory made read-only...
                raise SecretStoreUnavailable(
                    f"cannot write {self._path}: {error.strerror}") from None
            finally:
                os.close(fd)  # closing releases the lock


def _parse_file(content: bytes, path: Path) -> dict[str, str]:
    if not content:
        return {}
    try:
        document: Any = json.loads(content)
    except ValueError:
        document = None
    secrets = document.get("secrets") if isinstance(document, dict) else None
    if not isinstance(secrets, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()):
        raise SecretStoreUnavailable(f"{path} is not a secrets file; fix or delete it")
    return secrets


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
