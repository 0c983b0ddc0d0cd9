"""Check the config file (one line per problem, exit status 2 if any) or show the effective
configuration with secrets masked. Without FILE: $HINGEMARCH_CONFIG, else
/etc/hingemarch/hingemarch.toml if it exists, else the built-in defaults (the rule every command uses).
"""
from __future__ import annotations

import argparse
import os

from firmware_bridge.mqtt.settings import PASSWORD_ENV
from firmware_bridge.service import config
from firmware_bridge.service.paths import config_file


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (("check", "validate; print one line per problem, or 'ok'"),
                       ("show", "print the effective configuration as TOML, secrets masked")):
        q = sub.add_parser(name, help=text, description=text)
        q.add_argument("file", nargs="?", metavar="FILE",
                       help="config file (default: $HINGEMARCH_CONFIG, else "
                            "/etc/hingemarch/hingemarch.toml if it exists, else the built-in defaults)")


def describe(path) -> str:
    return str(path) if path else "built-in defaults (no FILE, $HINGEMARCH_CONFIG or /etc/hingemarch/hingemarch.toml)"


def load_checked(path) -> config.Config:
    """config.load plus the checks MQTT does at start (topic levels, CA file); ConfigError lists
    every problem."""
    cfg = config.load(path)
    if cfg.mqtt.enabled:
        try:
            config.mqtt_settings(cfg.mqtt)
        except config.ConfigError as e:
            raise config.ConfigError([f"{path or 'config'}: {p}" for p in e.problems]) from None
    return cfg


def run(args: argparse.Namespace) -> int:
    path = config_file(args.file)
    cfg = load_checked(path)             # problems: ConfigError -> one line each, exit status 2
    if args.action == "check":
        print(f"{describe(path)}: ok")
        return 0
    if os.environ.get(PASSWORD_ENV):     # the environment wins over the file (shown masked)
        cfg = cfg.updated("mqtt", password=os.environ[PASSWORD_ENV])
    lines = config.to_toml(cfg, mask_secrets=True).splitlines()
    lines[0] = f"# hingemarch effective configuration, from {describe(path)}."
    if os.environ.get(PASSWORD_ENV):
        lines.insert(1, f"# mqtt.password comes from ${PASSWORD_ENV}.")
    print("\n".join(lines))
    return 0
