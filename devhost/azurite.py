"""Start and stop a real Azurite (the Azure Storage emulator) for local runs and tests.

``make run`` keeps its data under ``.devdata/azurite``; the test session runs it in memory
on random ports.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

# The well-known development account every Azurite accepts; it is public, not a secret.
DEV_ACCOUNT_NAME = "devstoreaccount1"
DEV_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

# The flags the design asks for: no telemetry (no internet here), any SDK API version, and
# no access log on the console. --loose ignores headers Azurite does not implement.
BASE_ARGS = ("--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent")

# Port collisions (a port taken between choosing it and Azurite binding it) are retried.
START_ATTEMPTS = 3


class AzuriteNotInstalled(RuntimeError):
    """``node_modules/.bin/azurite`` is missing: the npm dev dependencies are not installed."""


class AzuriteStartError(RuntimeError):
    """Azurite exited or did not answer in time; the message holds the tail of its log."""


@dataclass(frozen=True)
class AzuriteEndpoints:
    """Where a running Azurite listens. Path-style URLs: the account is the first segment."""

    host: str
    blob_port: int
    queue_port: int
    table_port: int

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.blob_port}/{DEV_ACCOUNT_NAME}"

    @property
    def queue_endpoint(self) -> str:
        return f"http://{self.host}:{self.queue_port}/{DEV_ACCOUNT_NAME}"

    @property
    def table_endpoint(self) -> str:
        return f"http://{self.host}:{self.table_port}/{DEV_ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};"
            f"AccountKey={DEV_ACCOUNT_KEY};BlobEndpoint={self.blob_endpoint};"
            f"QueueEndpoint={self.queue_endpoint};TableEndpoint={self.table_endpoint};"
        )


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` that holds ``package.json``."""
    here = (start or Path(__file__)).resolve()
    for directory in (here, *here.parents):
        if (directory / "package.json").is_file():
            return directory
    raise AzuriteNotInstalled(f"no package.json above {here}: cannot locate node_modules")


def azurite_executable(repo_root: Path | None = None) -> Path:
    root = repo_root or find_repo_root()
    executable = root / "node_modules" / ".bin" / "azurite"
    if not executable.exists():
        raise AzuriteNotInstalled(
            f"{executable} is missing: install the npm dev dependencies with `npm ci` "
            "(or run `make test`, which does it)"
        )
    return executable


class AzuriteProcess:
    """One Azurite child process in its own process group.

    In memory unless ``location`` is given. The host must be an IP address, not
    ``localhost``: azure-data-tables treats ``localhost`` on a port other than 10002 as a
    Cosmos DB endpoint and changes its requests.
    """

    def __init__(
        self,
        *,
        location: Path | None = None,
        host: str = "127.0.0.1",
        ports: tuple[int, int, int] | None = None,
        repo_root: Path | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self._executable = azurite_executable(repo_root)
        self._location = location
        self._host = host
        self._fixed_ports = ports
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._endpoints: AzuriteEndpoints | None = None
        # Azurite's own output goes to a file, never to a pipe nobody reads (which would
        # block it once the pipe buffer fills); the file is shown when start-up fails.
        self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")
        self.log_path = Path(self._workdir.name) / "azurite.log"

    @property
    def endpoints(self) -> AzuriteEndpoints:
        if self._endpoints is None:
            raise RuntimeError("Azurite is not running; call start() first")
        return self._endpoints

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> AzuriteEndpoints:
        if self.running:
            return self.endpoints
        # Fixed ports are the caller's choice: a collision there is not retried.
        attempts_left = 1 if self._fixed_ports else START_ATTEMPTS
        while True:
            endpoints = AzuriteEndpoints(self._host, *(self._fixed_ports or self._free_ports()))
            self._spawn(endpoints)
            try:
                self._wait_until_ready(endpoints)
                break
            except AzuriteStartError:
                self.stop()
                attempts_left -= 1
                if not attempts_left:
                    raise
        self._endpoints = endpoints
        # The fixture's teardown stops it; this catches callers that exit without stop().
        atexit.register(self.stop)
        return endpoints

    def stop(self) -> None:
        """Terminate the whole process group, then reap it. Safe to call more than once."""
        process, self._process, self._endpoints = self._process, None, None
        atexit.unregister(self.stop)
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def close(self) -> None:
        self.stop()
        self._workdir.cleanup()

    def __enter__(self) -> AzuriteEndpoints:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _arguments(self, endpoints: AzuriteEndpoints) -> list[str]:
        storage = (
            ["--location", str(self._location)] if self._location else ["--inMemoryPersistence"]
        )
        return [
            str(self._executable),
            *storage,
            *BASE_ARGS,
            "--blobHost", endpoints.host, "--blobPort", str(endpoints.blob_port),
            "--queueHost", endpoints.host, "--queuePort", str(endpoints.queue_port),
            "--tableHost", endpoints.host, "--tablePort", str(endpoints.table_port),
        ]  # fmt: skip

    def _spawn(self, endpoints: AzuriteEndpoints) -> None:
        if self._location:
            self._location.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # Its own session (and so process group): stop() kills node and anything it
            # started, and a Ctrl-C in the terminal reaches the test runner, not Azurite.
            self._process = subprocess.Popen(
                self._arguments(endpoints),
                cwd=self._workdir.name,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _free_ports(self) -> tuple[int, int, int]:
        # Hold all three sockets open while choosing so the three ports differ.
        with contextlib.ExitStack() as stack:
            sockets = [stack.enter_context(socket.socket()) for _ in range(3)]
            for sock in sockets:
                sock.bind((self._host, 0))
            blob, queue, table = (sock.getsockname()[1] for sock in sockets)
        return blob, queue, table

    def _wait_until_ready(self, endpoints: AzuriteEndpoints) -> None:
        deadline = time.monotonic() + self._startup_timeout
        pending = [endpoints.blob_port, endpoints.queue_port, endpoints.table_port]
        while pending:
            if self._process is None or self._process.poll() is not None:
                raise AzuriteStartError(f"Azurite exited during start-up:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                raise AzuriteStartError(
                    f"Azurite did not answer within {self._startup_timeout:.0f} s:\n"
                    f"{self._log_tail()}"
                )
            if _answers(endpoints.host, pending[0]):
                pending.pop(0)
            else:
                time.sleep(0.05)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def _answers(host: str, port: int) -> bool:
    """True once the port serves HTTP; any status (even 400 or 403) means Azurite is up."""
    connection = http.client.HTTPConnection(host, port, timeout=1)
    try:
        connection.request("GET", f"/{DEV_ACCOUNT_NAME}")
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True
