"""Serve the sessions, their reports and each athlete's history from a sessions folder, without a
sensor: on a laptop with session folders copied from the Pi, or on the Pi beside a stopped service.

The same pages as ``hingemarch run`` (docs/dashboard.md) except the live page: / opens the sessions.
Edits (a count fixed, a rep or session deleted, a note) are written to each session's edits.json,
the raw files never. Ctrl-C or SIGTERM stops it.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from analysis.errors import HingemarchError
from firmware_bridge.cli.flags import config_number
from firmware_bridge.cli.signals import stop_on_signals, wait_in_main
from firmware_bridge.service import config, logsetup
from firmware_bridge.service.paths import CONFIG_HELP, config_file, state_dir


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("sessions", nargs="?", metavar="SESSIONS_DIR",
                   help="the folder holding the session folders (default: the state directory's sessions/)")
    p.add_argument("--state-dir", metavar="DIR", help="whose sessions/ to serve when SESSIONS_DIR is not given "
                   "(default: $HINGEMARCH_STATE_DIR, $STATE_DIRECTORY, ~/.local/state/hingemarch)")
    p.add_argument("--config", metavar="FILE", help=CONFIG_HELP + "; its [web] host, port and token are used")
    p.add_argument("--host", metavar="HOST", help="address to listen on (default: web.host of the config file when there is "
                   "one, else 127.0.0.1: this machine only)")
    p.add_argument("--port", type=config_number("web", "port"), metavar="PORT",
                   help="TCP port, 1..65535 (default: web.port from the config, 8080)")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))


def run(args) -> int:
    from firmware_bridge.web.app import TOKEN_ENV, WebServer  # aiohttp only for this command

    logsetup.setup(args.log_level)
    cfg = config.load(config_file(args.config))
    root = Path(args.sessions).expanduser() if args.sessions else state_dir(args.state_dir) / "sessions"
    if not root.is_dir():
        raise HingemarchError(f"{root} is not a folder of sessions (give SESSIONS_DIR, or --state-dir)")
    host = args.host or (cfg.web.host if config_file(args.config) else "127.0.0.1")
    token = os.environ.get(TOKEN_ENV) or cfg.web.token
    server = WebServer(host, cfg.web.port if args.port is None else args.port, token, root, live=False).start()
    print(f"hingemarch serve: the sessions in {root} on {server.url}"
          + (" (access token required)" if token else "") + "; Ctrl-C to stop", flush=True)
    with stop_on_signals() as stopping:
        try:
            wait_in_main(stopping)
        finally:
            server.stop()
    return 0
