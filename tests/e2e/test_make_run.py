"""`make run`'s runner as a newcomer starts it: everything up, the demo seeded (twice, to
the same result), run.json written, and SIGTERM stopping every process it started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from devhost.processes import free_port
from tests.support.eventually import eventually

ROOT = Path(__file__).resolve().parents[2]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def run_stack(data: Path, ports: dict[str, int]) -> dict[str, object]:
    env = {**os.environ, "LOCAL_DATA_DIR": str(data), "DEVHOST_PORT": str(ports["devhost"]),
           "SIMULATOR_PORT": str(ports["simulator"]),
           "AZURITE_PORTS": f"{ports['blob']},{ports['queue']},{ports['table']}"}
    for name in ("MANAGEMENT_API_KEY", "DEMO", "DEMO_AGENT_KEY", "PUBLIC_BASE_URL",
                 "FACEBOOK_GRAPH_URL"):
        env.pop(name, None)
    run_json = data / "run.json"
    run_json.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, "-m", "devhost.stack"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        def came_up() -> bool:
            if run_json.exists():
                return True
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            return False

        eventually(came_up, timeout=120, what="make run to write run.json")
        info: dict[str, object] = json.loads(run_json.read_text())
        assert httpx.get(f"{info['devhost_url']}/api/health").status_code == 200
        assert httpx.get(f"{info['simulator_url']}/_sim/health").status_code == 200
        assert run_json.stat().st_mode & 0o077 == 0  # it holds the management key
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        for port in ports.values():
            assert not listening(port), f"port {port} still served after SIGTERM"
        return info
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def test_make_run_seeds_the_demo_idempotently_and_stops_on_sigterm(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("devhost", "simulator", "blob", "queue", "table")}
    first = run_stack(tmp_path, ports)
    second = run_stack(tmp_path, ports)
    assert set(first) == {"devhost_url", "console_url", "simulator_url", "management_api_key",
                          "demo"}
    assert first["management_api_key"] == second["management_api_key"]
    demo = first["demo"]
    assert isinstance(demo, dict)
    assert set(demo) == {"account_id", "app_id", "page_id", "agent_id", "agent_key",
                         "bot_page_id"}
    assert second["demo"] == demo  # the same account, page and agent, not new ones
