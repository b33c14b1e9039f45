"""``python -m devhost [--app function_app] [--host 127.0.0.1] [--port 7071]``"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from devhost.config import DevhostConfig, apply_local_settings
from devhost.loader import FunctionLoadError, function_table
from devhost.server import Devhost
from messenger_channel.logs import configure_logging
from messenger_channel.settings import SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument(
        "--app",
        default="function_app",
        help="module or file.py holding the FunctionApp (attribute 'app')",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: DEVHOST_PORT or 7071")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        apply_local_settings(Path("local.settings.json"))
        config = DevhostConfig.from_environment()
        host = Devhost(args.app, config)
    except (SettingsError, FunctionLoadError) as problem:
        print(f"devhost: cannot start: {problem}", file=sys.stderr)
        return 2
    print(f"devhost: {len(host.functions)} functions\n"
          + function_table(list(host.functions.values()), host.prefix), file=sys.stderr)
    uvicorn.run(
        host.asgi(),
        host=args.host,
        port=args.port or config.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
