"""`make run`'s runner as a newcomer starts it, on ports and a data folder of its own: everything
up, the demo seeded (twice, to the same result), run.json written where LOCAL_DATA_DIR says and
the summary saying so, the summary's `say` line and `python -m simulator say` finding the
simulator on those ports, the README's first conversation working as pasted, and SIGTERM
stopping every process it started."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from devhost.processes import free_port
from tests.support.eventually import eventually

ROOT = Path(__file__).resolve().parents[2]
SUMMARY_END = "Ctrl-C stops everything."
# Variables that would point `say` at a simulator without run.json's help.
SIMULATOR_LOCATORS = ("SIMULATOR_URL", "SIMULATOR_PORT", "LOCAL_DATA_DIR")


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def collect(stream: Any, lines: list[str]) -> None:
    """Keeps reading the stack's output, so that its pipe never fills and blocks it."""
    for raw in iter(stream.readline, b""):
        lines.append(raw.decode(errors="replace").rstrip("\n"))


def run_stack(data: Path, ports: dict[str, int],
              while_up: Callable[[dict[str, Any], list[str]], None] | None = None
              ) -> dict[str, Any]:
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
    output: list[str] = []
    reader = threading.Thread(target=collect, args=(process.stdout, output), daemon=True)
    reader.start()
    try:
        def summary_printed() -> bool:
            assert process.poll() is None, "\n".join(output)
            return any(SUMMARY_END in line for line in output)

        eventually(summary_printed, timeout=120, what="make run to print its summary")
        info: dict[str, Any] = json.loads(run_json.read_text())
        assert httpx.get(f"{info['devhost_url']}/api/health").status_code == 200
        assert httpx.get(f"{info['simulator_url']}/_sim/health").status_code == 200
        assert run_json.stat().st_mode & 0o077 == 0  # it holds the management key
        if while_up is not None:
            while_up(info, output)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        for port in ports.values():
            assert not listening(port), f"port {port} still served after SIGTERM"
        return info
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        reader.join(timeout=10)


def environment_without_a_simulator_locator(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SIMULATOR_LOCATORS}
    return {**env, **extra}


def say_works(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True


def readme_first_conversation() -> str:
    """The README's first `sh` block after "**The demo.**", as a newcomer pastes it."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"\*\*The demo\.\*\*.*?```sh\n(.*?)```", readme, re.DOTALL)
    assert block, "README.md: no first conversation under **The demo.**"
    return block.group(1)


def newcomer_papercuts(data: Path) -> Callable[[dict[str, Any], list[str]], None]:
    def check(info: dict[str, Any], output: list[str]) -> None:
        demo = info["demo"]
        # The summary names the run.json it wrote, not the default folder's.
        assert f"the same is in {data / 'run.json'};" in "\n".join(output)
        # The summary's `say` line works as printed, from a shell that knows nothing of the ports.
        [line] = [line for line in output if "a customer writes:" in line]
        printed = shlex.split(line.split("a customer writes:", 1)[1])
        assert printed[:4] == [".venv/bin/python", "-m", "simulator", "say"]
        say_works([sys.executable, *printed[1:]], environment_without_a_simulator_locator())
        # `python -m simulator say` without --simulator-url finds the stack through run.json.
        say_works([sys.executable, "-m", "simulator", "say", "--account", demo["account_id"],
                   "--page", demo["page_id"], "--psid", "5550001", "Hi"],
                  environment_without_a_simulator_locator(LOCAL_DATA_DIR=str(data)))
        # The README's first conversation, pasted as it is: the agent's reply reaches the
        # simulator's Send API record.
        pasted = subprocess.run(["bash", "-c", readme_first_conversation()], cwd=ROOT,
                                env=environment_without_a_simulator_locator(
                                    LOCAL_DATA_DIR=str(data)),
                                capture_output=True, text=True, timeout=120, check=False)
        assert pasted.returncode == 0, pasted.stdout + pasted.stderr

        def replies() -> list[str]:
            sent = httpx.get(f"{info['simulator_url']}/_sim/sent",
                             params={"page_id": demo["page_id"]}).json()
            return [item["message"].get("text") for item in sent]

        eventually(replies, lambda texts: "Hi! How can I help?" in texts,
                   what="the README's reply in the simulator's Send API record")

    return check


def test_make_run_seeds_the_demo_idempotently_and_stops_on_sigterm(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("devhost", "simulator", "blob", "queue", "table")}
    data = tmp_path / "elsewhere"
    first = run_stack(data, ports, while_up=newcomer_papercuts(data))
    second = run_stack(data, ports)
    assert set(first) == {"devhost_url", "console_url", "simulator_url", "management_api_key",
                          "demo"}
    assert first["simulator_url"] == f"http://127.0.0.1:{ports['simulator']}"
    assert first["management_api_key"] == second["management_api_key"]
    demo = first["demo"]
    assert isinstance(demo, dict)
    assert set(demo) == {"account_id", "app_id", "page_id", "agent_id", "agent_key",
                         "bot_page_id"}
    assert second["demo"] == demo  # the same account, page and agent, not new ones
