"""The secret stores: the devhost's file (permissions, atomic writes, concurrent writers) and
Key Vault (against a fake SecretClient that answers as the service does)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from types import SimpleNamespace

import pytest
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)

from messenger_channel.secrets import (
    MAX_VALUE_BYTES,
    InvalidSecret,
    KeyVaultSecretStore,
    LocalSecretStore,
    SecretNotFound,
    SecretStoreError,
    SecretStoreUnavailable,
    new_secret_name,
    secret_store_from_settings,
)
from messenger_channel.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
VALUE = "EAAGm0PX4ZCpsBAKzWf3ZCLkYqTbYZCfJvZB6jZAYx2Z-page-token"
BAD_NAMES = ["", "has space", "under_score", "dot.ted", "x" * 128, "ünïcode", "a/b"]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "devdata" / "secrets.json"


@pytest.fixture
def store(path: Path) -> LocalSecretStore:
    return LocalSecretStore(path)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- names --------------------------------------------------------------------------------------


def test_new_secret_names_are_valid_readable_and_unique() -> None:
    names = {new_secret_name("page-token", "1001") for _ in range(100)}
    assert len(names) == 100
    for name in names:
        assert name.startswith("page-token-1001-")
    assert new_secret_name("app-secret", "Acc_42/x").startswith("app-secret-acc-42-x-")
    long_name = new_secret_name("a" * 40, "9" * 500)
    assert len(long_name) <= 127


def test_a_kind_must_be_a_name_part() -> None:
    for kind in ("", "Page", "page_token", "x" * 41):
        with pytest.raises(ValueError, match="kind"):
            new_secret_name(kind, "1001")


def test_generated_names_are_accepted_by_the_store(store: LocalSecretStore) -> None:
    for name in (new_secret_name("a" * 40, "9" * 500), new_secret_name("app-secret", "___")):
        store.set(name, VALUE)
        assert store.get(name) == VALUE


# -- the local store --------------------------------------------------------------------------


def test_round_trip(store: LocalSecretStore) -> None:
    store.set("page-token-1001-a", VALUE)
    store.set("app-secret-acc-1-b", "s3cr3t")
    assert store.get("page-token-1001-a") == VALUE
    store.set("page-token-1001-a", "rotated")
    assert store.get("page-token-1001-a") == "rotated"
    assert store.get("app-secret-acc-1-b") == "s3cr3t"


def test_names_are_case_insensitive_as_in_key_vault(store: LocalSecretStore) -> None:
    store.set("Page-Token-1001", VALUE)
    assert store.get("page-token-1001") == VALUE
    store.delete("PAGE-TOKEN-1001")
    with pytest.raises(SecretNotFound):
        store.get("Page-Token-1001")


def test_a_missing_secret(store: LocalSecretStore, path: Path) -> None:
    with pytest.raises(SecretNotFound, match="page-token-9"):
        store.get("page-token-9")
    assert not path.exists()  # reading creates nothing


def test_delete_is_idempotent(store: LocalSecretStore) -> None:
    store.set("page-token-1001", VALUE)
    store.set("page-token-1002", VALUE)
    store.delete("page-token-1001")
    store.delete("page-token-1001")
    store.delete("never-existed")
    with pytest.raises(SecretNotFound):
        store.get("page-token-1001")
    assert store.get("page-token-1002") == VALUE


def test_the_file_and_the_directory_it_makes_are_private(path: Path,
                                                         store: LocalSecretStore) -> None:
    store.set("page-token-1001", VALUE)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(path.with_name("secrets.json.lock")) == 0o600
    assert json.loads(path.read_text()) == {"secrets": {"page-token-1001": VALUE}}
    assert sorted(p.name for p in path.parent.iterdir()) == ["secrets.json", "secrets.json.lock"]


def test_an_existing_directory_is_left_as_it_is(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    LocalSecretStore(tmp_path / "secrets.json").set("page-token-1001", VALUE)
    assert mode(tmp_path) == 0o755
    assert mode(tmp_path / "secrets.json") == 0o600


def test_a_file_readable_by_others_is_refused(path: Path) -> None:
    path.parent.mkdir()
    path.write_text(json.dumps({"secrets": {"page-token-1001": VALUE}}))
    path.chmod(0o644)
    with pytest.raises(SecretStoreUnavailable, match=f"chmod 600 {path}"):
        LocalSecretStore(path)
    path.chmod(0o600)
    store = LocalSecretStore(path)
    assert store.get("page-token-1001") == VALUE
    path.chmod(0o640)  # loosened while running: refused from the next read on
    for call in (lambda: store.get("page-token-1001"), store.check,
                 lambda: store.set("page-token-1002", VALUE)):
        with pytest.raises(SecretStoreUnavailable, match="chmod 600"):
            call()


def test_a_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"secrets": {}}))
    target.chmod(0o600)
    (tmp_path / "secrets.json").symlink_to(target)
    with pytest.raises(SecretStoreUnavailable, match="symlink"):
        LocalSecretStore(tmp_path / "secrets.json")


def test_a_file_that_is_not_a_secrets_file(path: Path) -> None:
    path.parent.mkdir()
    for content in ("not json", "[1, 2]", '{"secrets": {"a": 1}}'):
        path.write_text(content)
        path.chmod(0o600)
        with pytest.raises(SecretStoreUnavailable, match="not a secrets file"):
            LocalSecretStore(path)


def test_check(store: LocalSecretStore, path: Path) -> None:
    store.check()  # nothing written yet: healthy
    store.set("page-token-1001", VALUE)
    store.check()
    path.write_text("garbage")
    with pytest.raises(SecretStoreUnavailable):
        store.check()


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names_are_refused_and_not_echoed(store: LocalSecretStore, name: str) -> None:
    for call in (lambda: store.get(name), lambda: store.set(name, VALUE),
                 lambda: store.delete(name)):
        with pytest.raises(InvalidSecret) as raised:
            call()
        assert isinstance(raised.value, ValueError)
        if name:
            assert name not in str(raised.value)


def test_valid_names_at_the_limits(store: LocalSecretStore) -> None:
    for name in ("a", "0", "A-b-9", "x" * 127):
        store.set(name, VALUE)
        assert store.get(name) == VALUE


@pytest.mark.parametrize("value", ["", "x" * (MAX_VALUE_BYTES + 1),
                                   "é" * (MAX_VALUE_BYTES // 2 + 1)])
def test_invalid_values_are_refused_and_not_echoed(store: LocalSecretStore, value: str) -> None:
    with pytest.raises(InvalidSecret) as raised:
        store.set("page-token-1001", value)
    if value:
        assert value[:20] not in str(raised.value)


def test_concurrent_writers_in_threads_lose_nothing(path: Path) -> None:
    shared = LocalSecretStore(path)

    def write(thread: int, store: LocalSecretStore) -> None:
        for n in range(25):
            store.set(f"t{thread}-n{n}", f"value-{thread}-{n}")

    # Odd threads share one store (its thread lock), even ones have their own (flock alone).
    threads = [threading.Thread(target=write,
                                args=(t, shared if t % 2 else LocalSecretStore(path)))
               for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for t in range(8):
        for n in range(25):
            assert shared.get(f"t{t}-n{n}") == f"value-{t}-{n}"


WRITER = """
import sys
from pathlib import Path
from messenger_channel.secrets import LocalSecretStore
store = LocalSecretStore(Path(sys.argv[1]))
for n in range(60):
    store.set(f"p{sys.argv[2]}-n{n}", f"value-{sys.argv[2]}-{n}")
"""


def test_concurrent_writers_in_two_processes_lose_nothing(path: Path) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(p)], cwd=ROOT)
               for p in range(2)]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    store = LocalSecretStore(path)
    for p in range(2):
        for n in range(60):
            assert store.get(f"p{p}-n{n}") == f"value-{p}-{n}"
    assert mode(path) == 0o600


# -- Key Vault ----------------------------------------------------------------------------------


class FakeResponse:
    """Just enough of an azure-core response for HttpResponseError to read Key Vault's body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status_code = status
        self.reason = code
        self._body = json.dumps({"error": {"code": code, "message": message}})

    def text(self, encoding: str | None = None) -> str:
        return self._body


def vault_error(kind: type[HttpResponseError], status: int, code: str,
                message: str) -> HttpResponseError:
    return kind(response=FakeResponse(status, code, message))  # type: ignore[arg-type]


class FakeSecretClient:
    """Key Vault's behaviour: case-insensitive names, soft delete that keeps the name."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.deleted: set[str] = set()
        self.failure: AzureError | None = None
        self.calls: list[tuple[str, str]] = []

    def _enter(self, operation: str, name: str) -> None:
        self.calls.append((operation, name))
        if self.failure is not None:
            raise self.failure

    def get_secret(self, name: str) -> SimpleNamespace:
        self._enter("get", name)
        if name.lower() not in self.values:
            raise vault_error(ResourceNotFoundError, 404, "SecretNotFound",
                              f"A secret with (name/id) {name} was not found in this key vault.")
        return SimpleNamespace(value=self.values[name.lower()])

    def set_secret(self, name: str, value: str) -> SimpleNamespace:
        self._enter("set", name)
        if name.lower() in self.deleted:
            raise vault_error(ResourceExistsError, 409, "Conflict",
                              f"Secret {name} is currently in a deleted but recoverable state, "
                              "and its name cannot be reused; in this state, the secret can only "
                              "be recovered or purged.")
        self.values[name.lower()] = value
        return SimpleNamespace(value=value)

    def begin_delete_secret(self, name: str) -> SimpleNamespace:
        self._enter("delete", name)
        if name.lower() not in self.values:
            raise vault_error(ResourceNotFoundError, 404, "SecretNotFound",
                              f"A secret with (name/id) {name} was not found in this key vault.")
        del self.values[name.lower()]
        self.deleted.add(name.lower())
        return SimpleNamespace()


@pytest.fixture
def vault() -> FakeSecretClient:
    return FakeSecretClient()


@pytest.fixture
def vault_store(vault: FakeSecretClient) -> KeyVaultSecretStore:
    return KeyVaultSecretStore("https://contoso.vault.azure.net", client=vault)


def test_key_vault_round_trip(vault_store: KeyVaultSecretStore, vault: FakeSecretClient) -> None:
    vault_store.set("page-token-1001-a", VALUE)
    assert vault_store.get("page-token-1001-a") == VALUE
    assert vault.values == {"page-token-1001-a": VALUE}


def test_key_vault_missing_secret(vault_store: KeyVaultSecretStore) -> None:
    with pytest.raises(SecretNotFound, match="page-token-9") as raised:
        vault_store.get("page-token-9")
    assert raised.value.__context__ is None


def test_key_vault_delete_is_idempotent(vault_store: KeyVaultSecretStore,
                                        vault: FakeSecretClient) -> None:
    vault_store.set("page-token-1001", VALUE)
    vault_store.delete("page-token-1001")
    vault_store.delete("page-token-1001")  # now 404: already gone
    vault.failure = vault_error(ResourceExistsError, 409, "Conflict",
                                "Secret page-token-1001 is currently being deleted.")
    vault_store.delete("page-token-1001")
    vault.failure = None
    with pytest.raises(SecretNotFound):
        vault_store.get("page-token-1001")


def test_key_vault_refuses_a_deleted_name(vault_store: KeyVaultSecretStore) -> None:
    vault_store.set("page-token-1001", VALUE)
    vault_store.delete("page-token-1001")
    with pytest.raises(SecretStoreError, match="new_secret_name") as raised:
        vault_store.set("page-token-1001", "another value")
    assert not isinstance(raised.value, SecretStoreUnavailable)
    assert "another value" not in str(raised.value)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_key_vault_names_are_checked_before_calling(vault_store: KeyVaultSecretStore,
                                                    vault: FakeSecretClient, name: str) -> None:
    for call in (lambda: vault_store.get(name), lambda: vault_store.set(name, VALUE),
                 lambda: vault_store.delete(name)):
        with pytest.raises(InvalidSecret):
            call()
    assert vault.calls == []


UNAVAILABLE = [
    pytest.param(ServiceRequestError("Failed to establish a new connection"), id="unreachable"),
    pytest.param(ClientAuthenticationError(
        "DefaultAzureCredential failed to retrieve a token from the included credentials."),
        id="no credential"),
    pytest.param(vault_error(HttpResponseError, 403, "Forbidden",
                             "Caller is not authorized to perform action on resource."),
                 id="403"),
    pytest.param(vault_error(HttpResponseError, 429, "Throttled",
                             "Rate limit is exceeded. Try again in 5 seconds."), id="429"),
    pytest.param(vault_error(HttpResponseError, 503, "ServiceUnavailable",
                             "The service is unavailable."), id="503"),
]


@pytest.mark.parametrize("failure", UNAVAILABLE)
def test_key_vault_outages_are_unavailable(vault_store: KeyVaultSecretStore,
                                           vault: FakeSecretClient, failure: AzureError) -> None:
    vault.failure = failure
    for call in (lambda: vault_store.get("page-token-1001"),
                 lambda: vault_store.set("page-token-1001", VALUE),
                 lambda: vault_store.delete("page-token-1001"), vault_store.check):
        with pytest.raises(SecretStoreUnavailable) as raised:
            call()
        assert type(failure).__name__ in str(raised.value)
        assert raised.value.__context__ is None and raised.value.__cause__ is None


def test_key_vault_check(vault_store: KeyVaultSecretStore, vault: FakeSecretClient) -> None:
    vault_store.check()  # the probe is not found: the vault answered and let us read
    assert vault.calls == [("get", "secret-store-health-probe")]
    vault.failure = vault_error(HttpResponseError, 400, "BadParameter", "bad request")
    with pytest.raises(SecretStoreUnavailable):
        vault_store.check()


@pytest.mark.parametrize("message", [
    f"The value '{VALUE}' is not acceptable.",
    # The value straddles where the message is cut for the summary.
    "x" * 170 + f" '{VALUE}'",
])
def test_no_secret_value_in_key_vault_errors(vault_store: KeyVaultSecretStore,
                                             vault: FakeSecretClient, message: str) -> None:
    # Key Vault does not echo values; if a proxy or a future answer did, it is cut out.
    vault.failure = vault_error(HttpResponseError, 400, "BadParameter", message)
    with pytest.raises(SecretStoreError) as raised:
        vault_store.set("page-token-1001", VALUE)
    shown = str(raised.value) + repr(raised.value) + "".join(
        traceback.format_exception(raised.value))
    assert VALUE[:12] not in shown
    assert "BadParameter" in shown and "page-token-1001" in shown


def test_key_vault_refuses_invalid_values(vault_store: KeyVaultSecretStore,
                                          vault: FakeSecretClient) -> None:
    for value in ("", "x" * (MAX_VALUE_BYTES + 1)):
        with pytest.raises(InvalidSecret):
            vault_store.set("page-token-1001", value)
    assert vault.calls == []


# -- choosing the store -------------------------------------------------------------------------


def settings(tmp_path: Path, **extra: str) -> Settings:
    return Settings.model_validate({
        "PUBLIC_BASE_URL": "https://channel.example.test",
        "MANAGEMENT_API_KEY": "k" * 32,
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "QUEUE_BACKEND": "local",
        "LOCAL_DATA_DIR": str(tmp_path),
        **extra,
    })


def test_the_devhost_uses_the_local_file(tmp_path: Path) -> None:
    store = secret_store_from_settings(settings(tmp_path))
    assert isinstance(store, LocalSecretStore)
    store.set("page-token-1001", VALUE)
    assert (tmp_path / "secrets.json").exists()


def test_a_key_vault_url_selects_key_vault(tmp_path: Path) -> None:
    store = secret_store_from_settings(
        settings(tmp_path, KEY_VAULT_URL="https://contoso.vault.azure.net"))
    assert isinstance(store, KeyVaultSecretStore)
    assert not os.listdir(tmp_path)
