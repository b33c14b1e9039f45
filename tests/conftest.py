"""Fixtures shared by the test tiers: a real Azurite for the session, isolated stores per test,
and each test's tier marker (``unit``, ``integration``, ``e2e``, ``browser``, ``infra``) from
its folder. Fixtures live here; constants and helpers live in ``tests/support/``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from devhost.azurite import AzuriteEndpoints, AzuriteNotInstalled, AzuriteProcess
from messenger_channel.clock import Clock
from messenger_channel.services import Services
from messenger_channel.storage.blobs import BlobStore
from messenger_channel.storage.tables import TableStore
from tests.support.keys import MANAGEMENT_KEY
from tests.support.product import Product, start_product

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "e2e", "browser", "infra")  # registered in pyproject.toml


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks each test with its tier, the first folder under ``tests/``, so ``-m unit`` (and
    the others) select by tier. A test outside the tier folders is an error, not a test that
    no ``-m`` would ever run."""
    for item in items:
        path = item.path.resolve()
        if not path.is_relative_to(TESTS):
            continue
        folder = path.relative_to(TESTS).parts[0]
        if folder not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: tests belong in one of tests/{{"
                                    f"{','.join(TIERS)}}}/")
        item.add_marker(folder)


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoints]:
    """Azurite in memory on random free ports, started on first use, stopped (with its whole
    process group) when the session ends, whatever the tests did."""
    try:
        process = AzuriteProcess()
    except AzuriteNotInstalled as error:
        pytest.fail(str(error), pytrace=False)
    with process as endpoints:
        yield endpoints


@pytest.fixture
def table_prefix() -> str:
    """Unique per test, so tests never see each other's data. Lowercase letters and digits,
    starting with a letter: valid in front of table names and container names alike."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def table_store(azurite: AzuriteEndpoints, table_prefix: str) -> Iterator[TableStore]:
    with TableStore.from_connection_string(azurite.connection_string, prefix=table_prefix) as store:
        yield store


@pytest.fixture
def blob_store(azurite: AzuriteEndpoints, table_prefix: str) -> Iterator[BlobStore]:
    with BlobStore.from_connection_string(azurite.connection_string, prefix=table_prefix) as store:
        yield store


@pytest.fixture
def simulator_url() -> Iterator[str]:
    """A Messenger simulator served in a thread on a free port (the outside world, faked)."""
    from simulator.settings import load_settings
    from simulator.testing import serve_in_thread

    with serve_in_thread(load_settings()) as url:
        yield url


@pytest.fixture
def services(
    tmp_path: Path, table_store: TableStore, blob_store: BlobStore, simulator_url: str
) -> Iterator[Services]:
    """The app's services on Azurite (tables and blobs isolated per test), a local queue and
    secret store in a temporary directory, and the Graph client pointed at the simulator."""
    from messenger_channel.bus.local import LocalQueue
    from messenger_channel.facebook.graph import GraphClient
    from messenger_channel.secrets import LocalSecretStore
    from messenger_channel.settings import Settings

    settings = Settings.model_validate({
        "PUBLIC_BASE_URL": "https://channel.example.test",
        "MANAGEMENT_API_KEY": MANAGEMENT_KEY,
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "QUEUE_BACKEND": "local",
        "LOCAL_DATA_DIR": str(tmp_path),
        "FACEBOOK_GRAPH_URL": f"{simulator_url}/v25.0",
    })
    clock = Clock()
    queue = LocalQueue(tmp_path / "queues.sqlite", clock)
    yield Services(settings=settings, clock=clock, tables=table_store, blobs=blob_store,
                   queue=queue, secrets=LocalSecretStore(tmp_path / "secrets.json"),
                   graph=GraphClient(settings.facebook_graph_url))
    queue.close()


@pytest.fixture
def api(services: Services) -> Iterator[TestClient]:
    """The management and agent API in process, on the test's services. Requests carry no key
    unless a test sends one (see ``MANAGEMENT_KEY``)."""
    from messenger_channel.api.app import create_api
    from messenger_channel.api.auth import api_services

    app = create_api()
    app.dependency_overrides[api_services] = lambda: services
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="session")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    """The whole product (Azurite, simulator, devhost) for the e2e and browser tests: one stack
    per session, started on first use."""
    yield from start_product(tmp_path_factory)
