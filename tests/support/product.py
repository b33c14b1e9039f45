"""The whole product as `make run` starts it (Azurite, simulator, devhost), on free ports,
driven over HTTP as Facebook, operators and agents drive it.

The ``product`` fixture is registered in ``tests/conftest.py`` so the e2e and browser tests
share one stack per session."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devhost.processes import free_port
from devhost.stack import LocalStack, StackConfig
from simulator.client import SimulatorClient

MANAGEMENT_KEY = "e2e-management-key-" + "0" * 24


@dataclass
class Product:
    devhost_url: str
    simulator_url: str
    storage_connection_string: str
    log_dir: Path
    simulator: SimulatorClient
    manage: httpx.Client  # base URL /api/manage, management key sent
    admin: httpx.Client  # the devhost's /admin routes, management key sent

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.log_dir.glob("*.log"))

    def run_function(self, name: str) -> dict[str, int]:
        answer = self.admin.post(f"/functions/{name}")
        assert answer.status_code == 200, answer.text
        result: dict[str, int] = answer.json()
        return result


def start_product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    data = tmp_path_factory.mktemp("stack")
    config = StackConfig(data_dir=data, devhost_port=free_port(), simulator_port=free_port(),
                         azurite_ports=None, azurite_in_memory=True, log_dir=data / "logs",
                         management_api_key=MANAGEMENT_KEY, demo=False)
    stack = LocalStack(config)
    stack.start()
    auth = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
    with httpx.Client(base_url=f"{config.devhost_url}/api/manage", headers=auth,
                      timeout=60) as manage, \
            httpx.Client(base_url=f"{config.devhost_url}/admin", headers=auth,
                         timeout=120) as admin, \
            SimulatorClient(config.simulator_url) as simulator:
        try:
            assert stack.storage is not None
            yield Product(config.devhost_url, config.simulator_url,
                          stack.storage.connection_string, data / "logs", simulator, manage, admin)
        finally:
            stack.stop()


def new_id() -> str:
    """Facebook-shaped numeric ids, unique across the session's tests."""
    return str(10**14 + secrets.randbelow(9 * 10**14))
