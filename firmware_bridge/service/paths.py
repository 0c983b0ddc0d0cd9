"""Where hingemarch finds its config file and keeps state (calibration, sessions): one resolution
rule each, used by every command."""
from __future__ import annotations

import os
from pathlib import Path

SYSTEM_CONFIG = Path("/etc/hingemarch/hingemarch.toml")     # where the installer puts it
CONFIG_HELP = ("TOML config file (default: $HINGEMARCH_CONFIG, else /etc/hingemarch/hingemarch.toml "
               "if it exists, else the built-in defaults)")


def config_file(cli_value: str | os.PathLike | None = None, env=os.environ,
                system: Path = SYSTEM_CONFIG) -> Path | None:
    """``--config`` if given, else $HINGEMARCH_CONFIG, else ``system`` if it exists, else None
    (the built-in defaults). Files named explicitly must exist; config.load says so if not."""
    if cli_value:
        return Path(cli_value).expanduser()
    if env.get("HINGEMARCH_CONFIG"):
        return Path(env["HINGEMARCH_CONFIG"]).expanduser()
    return system if system.is_file() else None


def state_dir(cli_value: str | os.PathLike | None = None) -> Path:
    """``--state-dir`` if given, else $HINGEMARCH_STATE_DIR, else $STATE_DIRECTORY (set by systemd's
    StateDirectory=; the first entry if it lists several), else ~/.local/state/hingemarch."""
    if cli_value:
        return Path(cli_value).expanduser()
    env = os.environ.get("HINGEMARCH_STATE_DIR")
    if env:
        return Path(env).expanduser()
    systemd = os.environ.get("STATE_DIRECTORY")
    if systemd:
        return Path(systemd.split(":")[0])
    return Path.home() / ".local" / "state" / "hingemarch"
