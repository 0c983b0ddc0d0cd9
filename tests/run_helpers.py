"""Runs ``hingemarch run`` as a real process for the tests: its own config, state dir and device id."""
from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "firmware_bridge.cli.hingemarch", "run"]
CHILD_ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}   # SIGABRT: every thread's stack on stderr


def stacks_of_a_hung(proc: subprocess.Popen) -> None:
    """A child that did not end in time: SIGABRT makes it write every thread's stack to its stderr
    (faulthandler, on in CHILD_ENV), so the failure says where it hung."""
    proc.send_signal(signal.SIGABRT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def ended(proc: subprocess.Popen, timeout_s: float) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a child with piped output, within ``timeout_s``; if it is still
    running then, the test fails with its stderr and where each of its threads hung."""
    text = lambda b: b.decode(errors="replace") if isinstance(b, bytes) else b or ""  # noqa: E731
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stacks_of_a_hung(proc)
        err = text(proc.communicate()[1])
        raise AssertionError(f"still running after {timeout_s:g} s; its stderr, then its threads:\n{err[-8000:]}") from None
    return proc.returncode, text(out), text(err)


def wait_listening(proc: subprocess.Popen, port: int, host: str = "127.0.0.1") -> None:
    """Until ``proc`` accepts connections on ``port``; fails (with its stderr, if piped) if it exits first."""
    pause = threading.Event()
    while proc.poll() is None:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            pause.wait(0.05)
    err = proc.stderr.read().decode() if proc.stderr else ""
    raise AssertionError(f"the process exited before it listened on port {port}: {err}")


class Service:
    """One ``hingemarch run`` process with its own config, state dir and device id."""

    def __init__(self, broker, tmp_path: Path, *args: str, device_id: str | None = None,
                 prefix: str | None = None, **mqtt):
        self.device_id = device_id or "dev-" + uuid.uuid4().hex[:6]
        self.prefix = prefix or "run-" + uuid.uuid4().hex[:6]
        self.base = f"{self.prefix}/{self.device_id}"
        self.state_dir = tmp_path / "state"
        self.config = tmp_path / f"{self.device_id}.toml"
        extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in mqtt.items())
        self.config.write_text(f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
                               f'topic_prefix = "{self.prefix}"\ndevice_id = "{self.device_id}"\n'
                               f"reconnect_max_s = 1.0\n{extra}"
                               "[web]\nenabled = false\n")   # no page unless a test asks (--web)
        self.args = [*CLI, "--config", str(self.config), "--state-dir", str(self.state_dir), *args]
        self.proc: subprocess.Popen | None = None
        self.log = tmp_path / f"{self.device_id}.log"

    def start(self, max_file_bytes: int | None = None) -> Service:
        """``max_file_bytes``: no file may grow past this (RLIMIT_FSIZE), so writes fail the way
        they do on a full disk, mid-session."""
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"),
                                     env=CHILD_ENV,
                                     preexec_fn=limit if max_file_bytes else None)
        return self

    def wait(self, timeout_s: float = 60) -> int:
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            stacks_of_a_hung(self.proc)
            raise AssertionError(f"still running after {timeout_s:g} s; the end of its log, then its threads:\n"
                                 + self.log.read_text(errors="replace")[-8000:]) from None

    def sessions(self) -> list[Path]:
        return sorted((self.state_dir / "sessions").iterdir())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def service(broker, tmp_path):
    made: list[Service] = []

    def make(*args, on=None, **kw) -> Service:
        s = Service(on or broker, tmp_path, *args, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()
