"""``python -m simulator serve`` and ``python -m simulator say``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from simulator.client import SimulatorClient, SimulatorError

ROOT = Path(__file__).resolve().parent.parent
# `make run` (devhost/stack.py) writes the URLs it serves, its ports included, to this file in
# LOCAL_DATA_DIR (.devdata by default).
RUN_FILE = "run.json"
DEFAULT_URL = "http://127.0.0.1:7072"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator",
                                     description="Local fake of Facebook Messenger's Graph API.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the simulator")
    serve.add_argument("--host", help="address to bind (default SIMULATOR_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default SIMULATOR_PORT or 7072)")

    say = commands.add_parser("say", help="send a customer's message to the product's webhook")
    say.add_argument("text", nargs="?", help="the message text")
    say.add_argument("--account", required=True, help="the product's account id (webhook path)")
    say.add_argument("--page", required=True, help="page id")
    say.add_argument("--psid", required=True, help="the customer's page-scoped id")
    say.add_argument("--timestamp", type=int, help="event time, ms since the epoch")
    say.add_argument("--attachment", choices=("image", "audio", "video", "file"),
                     help="send a hosted file of this type instead of a text")
    say.add_argument("--quick-reply", dest="quick_reply", help="quick reply payload")
    say.add_argument("--simulator-url", default=default_url(os.environ),
                     help="the simulator (default: SIMULATOR_URL, SIMULATOR_PORT, the one the "
                          f"last `make run` wrote to LOCAL_DATA_DIR/{RUN_FILE}, {DEFAULT_URL})")

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args.host, args.port)
    return _say(args)


def default_url(env: Mapping[str, str]) -> str:
    """Where `say` finds the simulator when not told: the environment first, then the simulator
    of the last `make run` (whatever ports it was started on), then the default port."""
    if env.get("SIMULATOR_URL"):
        return env["SIMULATOR_URL"]
    if env.get("SIMULATOR_PORT"):
        return f"http://127.0.0.1:{env['SIMULATOR_PORT']}"
    run_file = Path(env.get("LOCAL_DATA_DIR") or ROOT / ".devdata") / RUN_FILE
    try:
        return str(json.loads(run_file.read_text())["simulator_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_URL  # no `make run` yet, or a file that is not its


def _serve(host: str | None, port: int | None) -> int:
    import uvicorn  # only the server needs it; `say` stays light

    from simulator.app import create_app
    from simulator.settings import load_settings

    overrides: dict[str, object] = {}
    if host:
        overrides["SIMULATOR_HOST"] = host
    if port:
        overrides["SIMULATOR_PORT"] = port
    settings = load_settings(**overrides)
    print(f"Messenger simulator: Graph API at http://{settings.host}:{settings.port}/"
          f"{settings.graph_version}, control API at /_sim, webhooks to "
          f"{settings.webhook_base_url}/{{account_id}}", flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
    return 0


def _say(args: argparse.Namespace) -> int:
    if args.text is None and args.attachment is None:
        print("say: give a text or --attachment", file=sys.stderr)
        return 2
    attachment = {"type": args.attachment} if args.attachment else None
    try:
        with SimulatorClient(args.simulator_url) as client:
            result = client.say(args.account, args.page, args.psid, args.text,
                                timestamp=args.timestamp, quick_reply_payload=args.quick_reply,
                                attachment=attachment)
    except SimulatorError as error:
        print(json.dumps(error.body, indent=2), file=sys.stderr)
        return 1
    except httpx.TransportError as error:
        print(f"say: cannot reach the simulator at {args.simulator_url}: {error}",
              file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if result["ok"] else 1
