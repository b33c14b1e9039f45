"""``make run``: Azurite, the Messenger simulator and the devhost, wired together.

Prints what a person needs and writes it to ``run.json`` in LOCAL_DATA_DIR (``.devdata``);
Ctrl-C or SIGTERM stops every process it started. Environment: DEVHOST_PORT, SIMULATOR_PORT,
AZURITE_PORTS, FACEBOOK_GRAPH_URL, MANAGEMENT_API_KEY, PUBLIC_BASE_URL,
DEVHOST_CLOCK_OFFSET_SECONDS, DEMO, DEMO_AGENT_KEY, LOCAL_DATA_DIR, and the devhost's own
DEVHOST_* settings, passed through (see the README).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.azurite import AzuriteEndpoints, AzuriteProcess, AzuriteStartError
from devhost.demo import DEFAULT_DEMO_AGENT_KEY, DemoFailed, seed_demo
from devhost.processes import ChildProcess, StartupFailed, http_ok
from simulator.cli import RUN_FILE

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class StackConfig:
    data_dir: Path
    devhost_port: int = 7071
    simulator_port: int = 7072
    azurite_ports: tuple[int, int, int] | None = (10000, 10001, 10002)  # None: random free ports
    management_api_key: str = ""
    public_base_url: str = ""
    graph_url: str = ""
    clock_offset_seconds: str = "0"
    azurite_in_memory: bool = False
    demo: bool = True
    demo_agent_key: str = DEFAULT_DEMO_AGENT_KEY
    log_dir: Path | None = None  # None: children write to this terminal
    extra_env: dict[str, str] = field(default_factory=dict)
    # The tree whose code the devhost runs (None: this one); a benchmark runs an older
    # commit's against the same Azurite and simulator code to compare with it.
    devhost_root: Path | None = None

    @classmethod
    def from_environment(cls) -> StackConfig:
        env = os.environ
        data_dir = Path(env.get("LOCAL_DATA_DIR") or ROOT / ".devdata").resolve()
        config = cls(
            data_dir=data_dir,
            azurite_ports=_ports(env.get("AZURITE_PORTS") or "10000,10001,10002"),
            devhost_port=int(env.get("DEVHOST_PORT") or 7071),
            simulator_port=int(env.get("SIMULATOR_PORT") or 7072),
            management_api_key=env.get("MANAGEMENT_API_KEY") or persistent_key(data_dir),
            public_base_url=env.get("PUBLIC_BASE_URL", ""),
            graph_url=env.get("FACEBOOK_GRAPH_URL", ""),
            clock_offset_seconds=env.get("DEVHOST_CLOCK_OFFSET_SECONDS") or "0",
            demo=env.get("DEMO", "1").lower() not in ("0", "false", "no"),
            demo_agent_key=env.get("DEMO_AGENT_KEY") or DEFAULT_DEMO_AGENT_KEY,
        )
        return config

    @property
    def devhost_url(self) -> str:
        return f"http://127.0.0.1:{self.devhost_port}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.simulator_port}"


def _ports(text: str) -> tuple[int, int, int]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(
            "AZURITE_PORTS: three port numbers (blob,queue,table), e.g. 10000,10001,10002"
        )
    return int(parts[0]), int(parts[1]), int(parts[2])


def persistent_key(data_dir: Path) -> str:
    """A management key generated once per checkout and kept owner-readable only."""
    path = data_dir / "management_api_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key)
    return key


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.children: list[ChildProcess] = []
        self.azurite: AzuriteProcess | None = None
        self.storage: AzuriteEndpoints | None = None

    def _log(self, name: str) -> Path | None:
        return None if self.config.log_dir is None else self.config.log_dir / f"{name}.log"

    def app_environment(self, storage: AzuriteEndpoints) -> dict[str, str]:
        c = self.config
        env = dict(os.environ)
        env.update(
            {
                "AzureWebJobsStorage": storage.connection_string,
                "QUEUE_BACKEND": "local",
                "LOCAL_DATA_DIR": str(c.data_dir),
                "FACEBOOK_GRAPH_URL": c.graph_url or f"{c.simulator_url}/v25.0",
                "PUBLIC_BASE_URL": c.public_base_url or c.devhost_url,
                "MANAGEMENT_API_KEY": c.management_api_key,
                "DEVHOST_PORT": str(c.devhost_port),
                "DEVHOST_CLOCK_OFFSET_SECONDS": c.clock_offset_seconds,
                "TOKEN_CHECK_SCHEDULE": os.environ.get("TOKEN_CHECK_SCHEDULE") or "0 0 */6 * * *",
                "SIMULATOR_PORT": str(c.simulator_port),
                "SIMULATOR_WEBHOOK_BASE_URL": f"{c.devhost_url}/api/facebook/webhook",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(c.extra_env)
        return env

    def start(self) -> dict[str, Any]:
        c = self.config
        c.data_dir.mkdir(parents=True, exist_ok=True)
        python = sys.executable
        try:
            self.azurite = AzuriteProcess(
                location=None if c.azurite_in_memory else c.data_dir / "azurite",
                ports=c.azurite_ports,
                repo_root=ROOT,
                startup_timeout=60,
            )
            self.storage = self.azurite.start()
            env = self.app_environment(self.storage)
            simulator = ChildProcess(
                "simulator",
                [python, "-m", "simulator", "serve", "--port", str(c.simulator_port)],
                env=env,
                cwd=ROOT,
                log_file=self._log("simulator"),
            )
            self._start(simulator, http_ok(f"{c.simulator_url}/_sim/health"), 60)
            devhost = ChildProcess(
                "devhost",
                [python, "-m", "devhost", "--port", str(c.devhost_port)],
                env=env,
                cwd=c.devhost_root or ROOT,
                log_file=self._log("devhost"),
            )
            self._start(devhost, http_ok(f"{c.devhost_url}/api/health"), 90)
            demo = (
                seed_demo(c.devhost_url, c.management_api_key, c.simulator_url, c.demo_agent_key)
                if c.demo
                else None
            )
        except (AzuriteStartError, OSError, DemoFailed) as problem:
            self.stop()
            raise StartupFailed(str(problem)) from None
        except BaseException:
            self.stop()
            raise
        info = self.run_info(demo)
        self.run_file.write_text(json.dumps(info, indent=2) + "\n")
        self.run_file.chmod(0o600)  # it holds the management key
        return info

    @property
    def run_file(self) -> Path:
        return self.config.data_dir / RUN_FILE

    def _start(self, child: ChildProcess, ready: Any, timeout: float) -> None:
        child.start()
        self.children.append(child)
        child.wait_ready(ready, timeout)

    def run_info(self, demo: dict[str, str] | None) -> dict[str, Any]:
        c = self.config
        return {
            "devhost_url": c.devhost_url,
            "console_url": f"{c.devhost_url}/api/console/",
            "simulator_url": c.simulator_url,
            "management_api_key": c.management_api_key,
            "demo": demo,
        }

    def first_exited(self) -> str | None:
        """The name of a process that stopped on its own, if any."""
        if self.azurite is not None and not self.azurite.running:
            return "azurite"
        return next((child.name for child in self.children if not child.alive()), None)

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        if self.azurite is not None:
            self.azurite.close()
            self.azurite = None


def main() -> int:
    try:
        config = StackConfig.from_environment()
    except ValueError as problem:
        print(f"make run: {problem}", file=sys.stderr)
        return 2
    stack = LocalStack(config)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        info = stack.start()
    except StartupFailed as problem:
        print(f"make run: {problem}", file=sys.stderr)
        return 1
    print_summary(info, stack.run_file)
    exit_code = 0
    while not stopping.wait(0.5):
        if (dead := stack.first_exited()) is not None:
            print(f"make run: {dead} stopped unexpectedly; stopping the rest", file=sys.stderr)
            exit_code = 1
            break
    stack.stop()
    print("make run: stopped", file=sys.stderr)
    return exit_code


def say_command(simulator_url: str, account_id: str, page_id: str, psid: str, text: str) -> str:
    """A `say` a person can paste into another shell: it names the simulator it runs against,
    so it works whatever ports this stack was started on."""
    return (f".venv/bin/python -m simulator say --simulator-url {simulator_url} "
            f"--account {account_id} --page {page_id} --psid {psid} {shlex.quote(text)}")


def _demo_summary(demo: dict[str, str] | None, simulator_url: str) -> str:
    if demo is None:
        return "  demo                    off (DEMO=0)\n"
    customer = say_command(simulator_url, demo["account_id"], demo["page_id"], "5551234", "Hello")
    bot = say_command(simulator_url, demo["account_id"], demo["bot_page_id"], "5551235",
                      "opening hours?")
    return (
        f"  demo account            {demo['account_id']} (app {demo['app_id']})\n"
        f"  demo page               {demo['page_id']}\n"
        f"  demo agent key          {demo['agent_key']}\n"
        f"  a customer writes:      {customer}\n"
        f"  demo bot-first page     {demo['bot_page_id']} (the simulator's example bot answers)\n"
        f"  ask the bot:            {bot}\n"
    )


def print_summary(info: dict[str, Any], run_file: Path) -> None:
    print(
        "\nThe Messenger channel runs locally.\n"
        f"  devhost (Functions)     {info['devhost_url']}/api/health\n"
        f"  agent console           {info['console_url']}\n"
        f"  Messenger simulator     {info['simulator_url']}/_sim/health\n"
        f"  management API key      {info['management_api_key']}\n"
        + _demo_summary(info["demo"], info["simulator_url"])
        + f"  the same is in {run_file}; Ctrl-C stops everything.\n",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
