"""A private Mosquitto on a free loopback port, for the demo (and the tests' fixtures build on it).

Only for trying things out on one machine: the Pi's real broker is the system Mosquitto set up by
the installer (config/mosquitto/).
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from analysis.errors import HingemarchError

LOOPBACK = "127.0.0.1"


class BrokerError(HingemarchError, OSError):
    """The local broker could not be started."""


def mosquitto_path() -> str | None:
    """The mosquitto binary, or None (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class LocalBroker:
    """mosquitto -c <workdir>/mosquitto.conf with an anonymous listener on ``port``; extra
    listener lines may be added to the config before ``start()``."""

    def __init__(self, workdir: Path, persistence: bool = False):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host, self.port = LOOPBACK, free_port()
        self.proc: subprocess.Popen | None = None
        self.conf = self.workdir / "mosquitto.conf"
        lines = [f"user {pwd.getpwuid(os.geteuid()).pw_name}",   # as root, don't drop to 'mosquitto'
                 "per_listener_settings true", f"log_dest file {self.workdir}/mosquitto.log",
                 "max_queued_messages 100000", f"listener {self.port} {LOOPBACK}", "allow_anonymous true"]
        if persistence:
            lines += ["persistence true", f"persistence_location {self.workdir}/", "autosave_interval 1"]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout_s: float = 10.0) -> LocalBroker:
        exe = mosquitto_path()
        if exe is None:
            raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.proc = subprocess.Popen([exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline, waiter = time.monotonic() + timeout_s, threading.Event()
        while time.monotonic() < deadline:
            try:
                socket.create_connection((LOOPBACK, self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise BrokerError(f"mosquitto exited at start: see {self.workdir}/mosquitto.log") from None
                waiter.wait(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout_s:.0f} s")

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (clean) by default; SIGKILL to simulate a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(timeout=10)
