"""Live latency and CPU of ``hingemarch run`` through a real broker, against the simulator's truth.

Starts a private Mosquitto on a free loopback port and ``--services`` processes of
``hingemarch run --source sim --speed 1 --rate-hz 200`` (one seed each, recording on, MQTT on).
A subscriber stamps each rep event on arrival. The wall time of sample time t is the session's
``clock.unix_s_at_t0 + t`` (cross-checked against the earliest state message), so

    latency = arrival - wall time of the true rep completion  (split: pipeline decision + delivery)
    CPU     = the service process's user+system time over its session / wall time, from /proc.

    ./run bench latency [--services 2] [--duration-s 240]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import pwd
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imu.sim import simulate_session  # noqa: E402

RATE_HZ = 200.0
MATCH_S = 2.0     # a detected rep matches the nearest true completion within this


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(workdir: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"user {pwd.getpwuid(os.geteuid()).pw_name}\nlistener {port} 127.0.0.1\n"
                    "allow_anonymous true\n")
    exe = "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else "mosquitto"
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            threading.Event().wait(0.05)
    raise SystemExit("mosquitto did not start")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Arrivals:
    """Every message under the prefix with its arrival time."""

    def __init__(self, port: int, prefix: str):
        self.messages: list[tuple[float, str, dict]] = []
        self.lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-latency")
        self.client.on_message = self._on_message
        ready = threading.Event()
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            [(f"{prefix}/+/event/#", 1), (f"{prefix}/+/state", 0)])
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        ready.wait(5)

    def _on_message(self, client, userdata, msg) -> None:
        now = time.time()
        with self.lock:
            self.messages.append((now, msg.topic, json.loads(msg.payload)))

    def of(self, device: str, kind: str) -> list[tuple[float, dict]]:
        with self.lock:
            return [(t, d) for t, topic, d in self.messages if topic.split("/")[1] == device
                    and topic.endswith("/" + kind)]


def analyse(arrivals: Arrivals, device: str, seed: int) -> dict:
    sim = simulate_session(seed, rate_hz=RATE_HZ)
    factor = sim.stage.clock_factor            # sample stamps run at nominal rate: stamp = true * factor
    truth_s = np.array(sorted(c * factor for s in sim.truth.sets for c in s.rep_completion_s))
    started = next(d for _, d in arrivals.of(device, "session") if d["phase"] == "started")
    unix_at_t0, t0_s = started["clock"]["unix_s_at_t0"], started["clock"]["session_t0_s"]
    states = arrivals.of(device, "state")
    lead_s = min(t - (d["clock"]["unix_s_at_t0"] or 0) - d["source_t_s"] for t, d in states) if states else None
    total, decision, delivery, used = [], [], [], set()
    for arrived, rep in arrivals.of(device, "rep"):
        done_s = rep["completed_s"] + t0_s
        i = int(np.argmin(np.abs(truth_s - done_s))) if len(truth_s) else -1
        if i < 0 or abs(truth_s[i] - done_s) > MATCH_S or i in used:
            continue
        used.add(i)
        total.append(arrived - (unix_at_t0 + truth_s[i]))
        decision.append(rep["t_s"] + t0_s - truth_s[i])
        delivery.append(arrived - (unix_at_t0 + rep["t_s"] + t0_s))
    return {"total": total, "decision": decision, "delivery": delivery, "clock_check_s": lead_s,
            "truth_reps_so_far": int(np.sum(truth_s <= states[-1][1]["source_t_s"])) if states else 0}


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--services", type=int, default=2, help="simulated devices at once (default 2)")
    ap.add_argument("--duration-s", type=float, default=240.0, help="wall time per run (default 240)")
    ap.add_argument("--first-seed", type=int, default=1)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hm-latency-"))
    broker, port = start_broker(work)
    prefix = "bench"
    arrivals = Arrivals(port, prefix)
    config = work / "hingemarch.toml"
    config.write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\ntopic_prefix = "{prefix}"\n')
    procs = {}
    try:
        for k in range(args.services):
            seed, device = args.first_seed + k, f"bench-{k}"
            cmd = [sys.executable, "-m", "firmware_bridge.cli.hingemarch", "run", "--config", str(config),
                   "--state-dir", str(work / device), "--device-id", device, "--source", "sim",
                   "--speed", "1", "--rate-hz", str(RATE_HZ), "--seed", str(seed), "--log-level", "warning",
                   "--no-web"]
            procs[device] = (seed, subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1]))
        cpu0 = {}
        deadline = time.monotonic() + 120
        while len(cpu0) < len(procs) and time.monotonic() < deadline:   # CPU from the session start on
            for device, (_, p) in procs.items():
                if device not in cpu0 and any(d["phase"] == "started" for _, d in arrivals.of(device, "session")):
                    cpu0[device] = (time.monotonic(), cpu_s(p.pid))
            threading.Event().wait(0.05)
        threading.Event().wait(args.duration_s)
        cpu = {}
        for device, (_, p) in procs.items():
            t0, c0 = cpu0[device]
            cpu[device] = (cpu_s(p.pid) - c0) / (time.monotonic() - t0)
            p.send_signal(signal.SIGTERM)
        for _, p in procs.values():
            p.wait(30)
        threading.Event().wait(0.5)
        results = {device: analyse(arrivals, device, seed) for device, (seed, _) in procs.items()}
    finally:
        for _, p in procs.values():
            if p.poll() is None:
                p.kill()
        arrivals.client.loop_stop()
        broker.terminate()
    total = [x for r in results.values() for x in r["total"]]
    decision = [x for r in results.values() for x in r["decision"]]
    delivery = [x for r in results.values() for x in r["delivery"]]
    print(f"# hingemarch bench latency  {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC  "
          f"{platform.processor() or platform.machine()}  {os.cpu_count()} CPUs  python {platform.python_version()}")
    print(f"services: {args.services} x sim at {RATE_HZ:.0f} Hz, speed 1, {args.duration_s:.0f} s each, "
          f"recording + MQTT on, one Mosquitto on loopback")
    for device, r in results.items():
        print(f"  {device}: {len(arrivals.of(device, 'rep'))} rep events, {len(r['total'])} reps matched of {r['truth_reps_so_far']} true; "
              f"CPU {100 * cpu[device]:.2f} % of one core; clock check {1000 * (r['clock_check_s'] or 0):+.1f} ms")
    if not total:
        print(f"no rep completed within {args.duration_s:.0f} s: run longer (--duration-s 60 or more)")
        return 1
    print(f"rep latency, true completion -> subscriber (n={len(total)}): median {statistics.median(total):.3f} s, "
          f"p95 {pct(total, 95):.3f} s, max {max(total):.3f} s   (target p95 <= 0.5 s)")
    print(f"  of which pipeline decision: median {statistics.median(decision):.3f} s, p95 {pct(decision, 95):.3f} s")
    print(f"  of which delivery (decision sample -> subscriber): median {1000 * statistics.median(delivery):.1f} ms, "
          f"p95 {1000 * pct(delivery, 95):.1f} ms")
    worst_cpu = max(cpu.values())
    print(f"service CPU at {RATE_HZ:.0f} Hz: worst {100 * worst_cpu:.2f} % of one core (target < 5 %)")
    return 0 if pct(total, 95) <= 0.5 and worst_cpu < 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
