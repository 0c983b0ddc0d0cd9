"""Ctrl-C ends the commands that wait for it even when the kernel hands the SIGINT to another thread
than the main one (a thread starting a thread or a report child takes it): the demo's page kept up
after the workout, and ``hingemarch serve``."""
from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import free_port

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
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running after SIGINT ({'SIGINT now' in out}): {out[-300:]} {err[-300:]}")
    assert "SIGINT now" in out and proc.returncode == 0, (out[-300:], err[-300:])
