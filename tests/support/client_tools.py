"""A Python client generated from the served OpenAPI document, as an integrator makes one.

``openapi-python-client`` pins its own dependencies, which need not agree with ours, so it
lives in a virtual environment of its own, installed from the hash-pinned
``requirements-tools.txt`` into ``.devdata/tools-venv`` on first use (about 15 s) and reused
while that file is unchanged. The generated client runs in the same environment (it needs
``attrs``, which our environment does not have): ``drive`` runs a step of
``client_tools_scenario.py`` there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements-tools.txt"
VENV = ROOT / ".devdata" / "tools-venv"
SCENARIO = Path(__file__).with_name("client_tools_scenario.py")
PACKAGE = "messenger_channel_client"


def tools_python() -> Path:
    """The tools environment's interpreter, installed if missing or made from another lock."""
    python = VENV / "bin" / "python"
    marker = VENV / "installed-from.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    VENV.parent.mkdir(parents=True, exist_ok=True)
    # Two test runs in one work tree install it once: the second waits, then finds it.
    with (VENV.parent / "tools-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and marker.exists() and marker.read_text() == wanted:
            return python
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "--require-hashes", "-r",
                        str(REQUIREMENTS)], check=True)
        marker.write_text(wanted)
    return python


def generate_client(document: dict[str, Any], into: Path) -> str:
    """Writes ``into/messenger_channel_client`` from the document; answers what the generator
    printed (its warnings included)."""
    python = tools_python()
    source = into / "openapi.json"
    source.write_text(json.dumps(document))
    # The generator formats its output with ruff, found on PATH: the tools environment's own.
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(python.parent / "openapi-python-client"), "generate", "--path", str(source),
         "--meta", "none", "--output-path", str(into / PACKAGE)],
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def drive(step: str, into: Path, arguments: dict[str, str]) -> Any:
    """Runs a step of the scenario with the tools environment and the package generated
    ``into`` importable; answers the JSON it prints."""
    done = subprocess.run([str(tools_python()), str(SCENARIO), step, json.dumps(arguments)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(into)})
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)
