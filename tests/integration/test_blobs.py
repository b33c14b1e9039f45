"""The Blob Storage layer against a real Azurite."""

from __future__ import annotations

import io
import os
import socket

import pytest
from azure.storage.blob import BlobServiceClient

from devhost.azurite import AzuriteEndpoints
from messenger_channel.settings import Settings, SettingsError
from messenger_channel.storage.blobs import BlobStore
from messenger_channel.storage.errors import NotFound, StorageUnavailable


def test_upload_then_download(blob_store: BlobStore) -> None:
    blob_store.upload("attachments", "conv-1/photo.jpg", b"\xff\xd8 jpeg", "image/jpeg",
                      {"page_id": "123", "source": "messenger"})

    assert blob_store.download("attachments", "conv-1/photo.jpg") == b"\xff\xd8 jpeg"
    info = blob_store.properties("attachments", "conv-1/photo.jpg")
    assert (info.name, info.size, info.content_type) == ("conv-1/photo.jpg", 7, "image/jpeg")
    assert info.metadata == {"page_id": "123", "source": "messenger"}
    assert info.etag
    assert info.last_modified.tzinfo is not None


def test_upload_overwrites(blob_store: BlobStore) -> None:
    blob_store.upload("attachments", "a.txt", b"first", "text/plain")
    blob_store.upload("attachments", "a.txt", b"second", "text/markdown")

    assert blob_store.download("attachments", "a.txt") == b"second"
    assert blob_store.properties("attachments", "a.txt").content_type == "text/markdown"


def test_stream_reads_chunk_by_chunk(azurite: AzuriteEndpoints, table_prefix: str) -> None:
    data = os.urandom(10_000)
    small_chunks = {"max_single_get_size": 1024, "max_chunk_get_size": 1024}
    with BlobStore.from_connection_string(azurite.connection_string, prefix=table_prefix,
                                          **small_chunks) as store:
        store.upload("attachments", "big.bin", io.BytesIO(data), "application/octet-stream")

        stream = store.open_stream("attachments", "big.bin")
        chunks = list(stream)

    assert stream.properties.size == len(data)
    assert stream.properties.content_type == "application/octet-stream"
    assert len(chunks) == 10
    assert b"".join(chunks) == data


def test_list_by_prefix(blob_store: BlobStore) -> None:
    for name in ["b/1", "a/2", "a/1"]:
        blob_store.upload("attachments", name, name.encode(), "text/plain", {"name": "x"})

    listed = list(blob_store.list("attachments", "a/"))

    assert [info.name for info in listed] == ["a/1", "a/2"]
    assert [info.size for info in listed] == [3, 3]
    assert listed[0].metadata == {"name": "x"}
    assert [info.name for info in blob_store.list("attachments")] == ["a/1", "a/2", "b/1"]
    assert list(blob_store.list("never-written")) == []


def test_delete(blob_store: BlobStore) -> None:
    blob_store.upload("attachments", "gone.txt", b"x", "text/plain")

    blob_store.delete("attachments", "gone.txt")

    with pytest.raises(NotFound):
        blob_store.download("attachments", "gone.txt")
    blob_store.delete("attachments", "gone.txt")  # already gone: not an error


def test_missing_blobs_raise_not_found(blob_store: BlobStore) -> None:
    blob_store.upload("attachments", "present.txt", b"x", "text/plain")

    for container in ["attachments", "never-written"]:
        with pytest.raises(NotFound):
            blob_store.download(container, "missing.txt")
        with pytest.raises(NotFound):
            blob_store.open_stream(container, "missing.txt")
        with pytest.raises(NotFound):
            blob_store.properties(container, "missing.txt")


def test_containers_are_private(
    blob_store: BlobStore, azurite: AzuriteEndpoints, table_prefix: str
) -> None:
    blob_store.upload("attachments", "secret.txt", b"x", "text/plain")

    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(f"{table_prefix}attachments")
    assert container.get_container_properties().public_access is None


@pytest.mark.parametrize("container", ["UPPER", "ab", "double--hyphen", "-edge", "x" * 64])
def test_invalid_container_names_are_refused(container: str) -> None:
    store = BlobStore.from_connection_string("UseDevelopmentStorage=true")  # refused before I/O
    with pytest.raises(ValueError, match="container name"):
        store.upload(container, "a.txt", b"x", "text/plain")


@pytest.mark.parametrize("metadata", [{"bad-name": "x"}, {"name": "é"}, {"name": "a\nb"}])
def test_metadata_that_cannot_be_a_header_is_refused(
    blob_store: BlobStore, metadata: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match="metadata"):
        blob_store.upload("attachments", "a.txt", b"x", "text/plain", metadata)


def test_check(blob_store: BlobStore, azurite: AzuriteEndpoints) -> None:
    blob_store.check()

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = azurite.connection_string.replace(f":{azurite.blob_port}/", f":{port}/")
    with BlobStore.from_connection_string(dead, retry_total=0) as store, pytest.raises(
        StorageUnavailable, match="unreachable"
    ):
        store.check()


def test_identity_based_settings_need_a_blob_endpoint() -> None:
    settings = Settings(
        AzureWebJobsStorage__tableServiceUri="https://account.table.core.windows.net",
        PUBLIC_BASE_URL="http://localhost", MANAGEMENT_API_KEY="k" * 16, QUEUE_BACKEND="local",
    )  # fmt: skip
    with pytest.raises(SettingsError, match="blobServiceUri"):
        BlobStore.from_settings(settings)
