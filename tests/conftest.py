"""Fixtures shared by the test tiers: a real Azurite for the session, isolated stores per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devhost.azurite import AzuriteEndpoints, AzuriteNotInstalled, AzuriteProcess
from messenger_channel.storage.blobs import BlobStore
from messenger_channel.storage.tables import TableStore


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
