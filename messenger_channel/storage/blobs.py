"""Blob Storage: attachments and other binary content, in private containers.

    blobs = BlobStore.from_settings(settings)          # one per process
    blobs.upload("attachments", "conv-1/photo.jpg", data, "image/jpeg")
    stream = blobs.open_stream("attachments", "conv-1/photo.jpg")
    stream.properties.size, [chunk for chunk in stream]

Every method raises only the errors of ``messenger_channel.storage.errors``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import (
    BlobProperties,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    LinearRetry,
)

from messenger_channel import metering
from messenger_channel.settings import Settings
from messenger_channel.storage.clients import (
    NETWORK_DEFAULTS,
    ServiceStore,
    translate_errors,
)

# Downloads fetch 4 MiB at a time (the SDK's first request would otherwise read up to
# 32 MiB into memory).
CHUNK_BYTES = 4 * 1024 * 1024

MAX_BLOB_NAME = 1024
_CONTAINER_NAME = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# Metadata travels as x-ms-meta-<name> HTTP headers: C# identifiers and printable ASCII.
_METADATA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_METADATA_VALUE = re.compile(r"[\x20-\x7e]*")


@dataclass(frozen=True)
class BlobInfo:
    name: str
    size: int
    content_type: str | None
    content_disposition: str | None
    metadata: dict[str, str]
    etag: str
    last_modified: datetime


def client_options(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The SDK client's settings: ours, then the caller's (``retry_total`` as for tables)."""
    options = dict(overrides)
    retries = options.pop("retry_total", 3)
    return {
        **NETWORK_DEFAULTS,
        "max_single_get_size": CHUNK_BYTES,
        "max_chunk_get_size": CHUNK_BYTES,
        # Retries 0 to 2 s apart; the SDK's default policy waits 15 s and more between them.
        "retry_policy": LinearRetry(backoff=1, random_jitter_range=1, retry_total=retries),
        **options,
    }


class BlobStream:
    """A blob's content as an iterator of chunks, with its properties. The chunks are read
    as they are iterated, from the version whose properties are shown (the SDK pins the
    ETag), so a concurrent overwrite cannot mix two versions."""

    def __init__(self, properties: BlobInfo, chunks: Iterator[bytes], subject: str) -> None:
        self.properties = properties
        self._chunks = chunks
        self._subject = subject

    def __iter__(self) -> Iterator[bytes]:
        with translate_errors(self._subject):
            yield from self._chunks


class BlobStore(ServiceStore):
    """The blob service of one storage account. Creates each container on first upload,
    private (no anonymous access), once per store: hold one store per process. A ``prefix``
    is prepended to every container name (tests use one per test)."""

    SERVICE_CLIENT = BlobServiceClient
    ENDPOINT_SETTING = "AzureWebJobsStorage__blobServiceUri"

    _service: BlobServiceClient

    client_options = staticmethod(client_options)

    @staticmethod
    def settings_endpoint(settings: Settings) -> str | None:
        return settings.blob_endpoint

    def upload(
        self,
        container: str,
        name: str,
        data: bytes | IO[bytes],
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        *,
        content_disposition: str | None = None,
    ) -> None:
        """Create or overwrite the blob. Its content type and disposition are what Blob
        Storage answers when the blob is read, also through a SAS URL."""
        _check_metadata(metadata or {})
        client = self._container(container)
        with translate_errors(self._subject(container, name)):
            self._ensure(client)
            # One write; the SDK splits only uploads over 64 MiB into blocks.
            metering.count("blob.write", container=client.container_name)
            client.upload_blob(
                _check_name(name), data, overwrite=True, metadata=dict(metadata or {}),
                content_settings=ContentSettings(content_type=content_type,
                                                 content_disposition=content_disposition),
            )  # fmt: skip

    def download(self, container: str, name: str) -> bytes:
        """The whole content; ``NotFound`` if the blob does not exist."""
        with translate_errors(self._subject(container, name)):
            client = self._container(container)
            metering.count("blob.read", container=client.container_name)
            return client.download_blob(_check_name(name)).readall()

    def open_stream(self, container: str, name: str) -> BlobStream:
        """The content chunk by chunk, for blobs too large to hold in memory."""
        subject = self._subject(container, name)
        with translate_errors(subject):
            client = self._container(container)
            # The first request; each further 4 MiB chunk is one more read.
            metering.count("blob.read", container=client.container_name)
            downloader = client.download_blob(_check_name(name))
        return BlobStream(_info(downloader.properties), downloader.chunks(), subject)

    def properties(self, container: str, name: str) -> BlobInfo:
        with translate_errors(self._subject(container, name)):
            blob = self._container(container).get_blob_client(_check_name(name))
            metering.count("blob.properties", container=blob.container_name)
            return _info(blob.get_blob_properties())

    def delete(self, container: str, name: str) -> None:
        """Delete; a missing blob is not an error (deletes are retried by their callers)."""
        with translate_errors(self._subject(container, name)), contextlib.suppress(
            ResourceNotFoundError
        ):
            client = self._container(container)
            metering.count("blob.delete", container=client.container_name)
            client.delete_blob(_check_name(name))

    def check(self) -> None:
        """Raise ``StorageUnavailable`` unless the service answers and accepts the
        credentials; reads at most one container name."""
        with translate_errors("blob service"):
            metering.count("blob.list")
            list(next(self._service.list_containers(results_per_page=1).by_page()))

    def close(self) -> None:
        self._service.close()

    def __enter__(self) -> BlobStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _container(self, container: str) -> ContainerClient:
        full_name = self._prefix + container
        if not _CONTAINER_NAME.fullmatch(full_name):
            raise ValueError(
                f"container name {full_name!r}: 3 to 63 lowercase letters, digits and single "
                "hyphens, starting and ending with a letter or digit"
            )
        return self._service.get_container_client(full_name)

    def _subject(self, container: str, name: str) -> str:
        return f"blob {self._prefix}{container}/{name}"

    def _ensure(self, client: ContainerClient) -> None:
        if client.container_name in self._created:
            return
        with self._lock:
            if client.container_name not in self._created:
                # No public_access argument: the container is private.
                metering.count("blob.create_container", container=client.container_name)
                with contextlib.suppress(ResourceExistsError):
                    client.create_container()
                self._created.add(client.container_name)

    def list(self, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        """The blobs whose names start with ``prefix``, in name order, page by page.
        A container never written to is empty. (Defined last: the name shadows ``list``.)"""
        client = self._container(container)
        with translate_errors(self._subject(container, prefix + "*")):
            try:
                pages = client.list_blobs(name_starts_with=prefix or None,
                                          include="metadata").by_page()
                while (page := next(pages, None)) is not None:
                    # One request per page of up to 5,000 names.
                    metering.count("blob.list", container=client.container_name)
                    for item in page:
                        yield _info(item)
            except ResourceNotFoundError:
                return


def _check_name(name: str) -> str:
    if not name or len(name) > MAX_BLOB_NAME:
        raise ValueError(f"a blob name holds 1 to {MAX_BLOB_NAME} characters")
    if _CONTROL_CHARACTERS.search(name):
        raise ValueError("a blob name holds no control characters")
    return name


def _check_metadata(metadata: Mapping[str, str]) -> None:
    for key, value in metadata.items():
        if not _METADATA_NAME.fullmatch(key) or not _METADATA_VALUE.fullmatch(value):
            raise ValueError(
                f"blob metadata {key!r}: names are identifiers, values printable ASCII "
                "(they travel as HTTP headers)"
            )


def _info(properties: BlobProperties) -> BlobInfo:
    return BlobInfo(
        name=properties.name,
        size=properties.size,
        content_type=properties.content_settings.content_type,
        content_disposition=properties.content_settings.content_disposition,
        metadata=dict(properties.metadata or {}),
        etag=properties.etag,
        last_modified=properties.last_modified,
    )
