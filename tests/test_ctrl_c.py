"""Ctrl-C and SIGTERM end the commands that run until stopped as a normal end would: even when the
kernel hands the SIGINT to another thread than the main one (a thread starting a thread or a report
child takes it), when the shell started the command with SIGINT ignored (``&`` in a script), and in
the middle of the demo's workout (its session closed, its private broker and temporary folder gone)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port
from run_helpers import CHILD_ENV, ended

# Runs the command in-process; a helper thread waits until the main thread sleeps inside the
# command's function that waits for Ctrl-C (argv[1]), then raises SIGINT in itself, so its C handler runs off the main thread.
CHILD = r"""
import signal, sys, threading, time
from firmware_bridge.cli.hingemarch import main

waiter, main_thread = sys.argv[1], threading.main_thread()

def main_sleeps_in_waiter() -> bool:
    frame = sys._current_frames().get(main_thread.ident)
    names = set()
    while frame is not None:
        names.add(frame.f_code.co_name)
        frame = frame.f_back
    with open(f"/proc/self/task/{main_thread.native_id}/stat") as f:
        state = f.read().rsplit(")", 1)[1].split()[0]
    return waiter in names and "start" not in names and state == "S"     # not starting the web server

def take_the_sigint() -> None:
    asleep = 0
    while asleep < 10:                       # 0.5 s asleep in the waiter: blocked there
        asleep = asleep + 1 if main_sleeps_in_waiter() else 0
        time.sleep(0.05)
    print("SIGINT now", flush=True)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)

threading.Thread(target=take_the_sigint, daemon=True).start()
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_ctrl_c_ends_the_command_when_another_thread_takes_the_signal(command, tmp_path):
    if command == "demo":
        waiter, argv = "_linger", ["demo", "--speed", "1000", "--sets", "1", "--no-mqtt", "--state-dir", str(tmp_path)]
    else:
        (tmp_path / "sessions").mkdir()
        waiter, argv = "run", ["serve", str(tmp_path / "sessions"), "--port", str(free_port())]
    proc = subprocess.Popen([sys.executable, "-c", CHILD, waiter, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=CHILD_ENV)
    code, out, err = ended(proc, 60)
    assert "SIGINT now" in out and code == 0, (out[-300:], err[-300:])


def _demo(tmp_path: Path, *args: str, **popen) -> subprocess.Popen:
    """The demo with its temporary files under tmp_path/tmp (where its private broker's config lives)."""
    (tmp_path / "tmp").mkdir()
    return subprocess.Popen([sys.executable, "-m", "firmware_bridge.cli.hingemarch", "demo", *args,
                             "--state-dir", str(tmp_path / "state")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**CHILD_ENV, "TMPDIR": str(tmp_path / "tmp")}, **popen)


def test_sigterm_mid_workout_ends_the_demo_as_a_finished_one(tmp_path):
    proc = _demo(tmp_path, "--speed", "20", "--sets", "2")
    assert any("rep  2 of set 1" in line for line in proc.stdout)       # the workout is under way
    proc.send_signal(signal.SIGTERM)
    code, out, err = ended(proc, 30)
    assert code == 0 and "Traceback" not in err, err
    assert "stopped at" in out and "by then" in out
    (folder,) = (tmp_path / "state" / "sessions").iterdir()
    assert (folder / "summary.json").exists()                             # the session was closed
    assert not list((tmp_path / "tmp").iterdir())                         # its broker's folder is gone
    mine = str(tmp_path / "tmp").encode()
    running = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p).find(mine) >= 0]
    assert not running, "the demo's broker outlived it"


def _cmdline(proc_dir: Path) -> bytes:
    try:
        return (proc_dir / "cmdline").read_bytes()
    except OSError:
        return b""


def test_ctrl_c_ends_the_demo_that_a_script_started_with_sigint_ignored(tmp_path):
    proc = _demo(tmp_path, "--speed", "1000", "--sets", "1", "--no-mqtt",
                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert any("the page stays up" in line for line in proc.stdout)
    os.kill(proc.pid, signal.SIGINT)
    code, _, err = ended(proc, 30)
    assert code == 0 and "Traceback" not in err, err
