"""Where hingemarch keeps state (calibration, sessions): one resolution rule for every command."""
from __future__ import annotations

import os
from pathlib import Path


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
