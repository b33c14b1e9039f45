"""Azurite, the Azure Storage emulator (npm package pinned in package.json), as a child process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devhost.processes import ChildProcess, free_port, port_open

# Azurite's well-known development account (public, documented by Microsoft; not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass(frozen=True)
class AzuritePorts:
    blob: int
    queue: int
    table: int

    @classmethod
    def random(cls) -> AzuritePorts:
        return cls(free_port(), free_port(), free_port())

    def connection_string(self, host: str = "127.0.0.1") -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://{host}:{self.blob}/{ACCOUNT};"
            f"QueueEndpoint=http://{host}:{self.queue}/{ACCOUNT};"
            f"TableEndpoint=http://{host}:{self.table}/{ACCOUNT};"
        )


def azurite_executable(root: Path) -> Path:
    executable = root / "node_modules" / ".bin" / "azurite"
    if not executable.exists():
        raise FileNotFoundError(
            f"{executable} is missing: run `make run` or `make test` (npm ci) first"
        )
    return executable


def azurite_process(
    root: Path, ports: AzuritePorts, *, location: Path | None, log_file: Path | None = None
) -> ChildProcess:
    """Blob, queue and table services; data under ``location``, or in memory when None."""
    argv = [
        str(azurite_executable(root)),
        "--silent",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--loose",
        "--blobHost",
        "127.0.0.1",
        "--queueHost",
        "127.0.0.1",
        "--tableHost",
        "127.0.0.1",
        "--blobPort",
        str(ports.blob),
        "--queuePort",
        str(ports.queue),
        "--tablePort",
        str(ports.table),
    ]
    if location is None:
        argv.append("--inMemoryPersistence")
    else:
        location.mkdir(parents=True, exist_ok=True)
        argv += ["--location", str(location)]
    return ChildProcess("azurite", argv, log_file=log_file)


def azurite_ready(ports: AzuritePorts) -> bool:
    return all(port_open(port) for port in (ports.blob, ports.queue, ports.table))
