"""What the web page costs the service: CPU and memory of ``hingemarch run`` at 200 Hz without the
web server, with it and no page open, and with one live page open.

Each case runs ``hingemarch run --source sim --speed 1 --rate-hz 200 --no-mqtt`` (recording on) for
``--duration-s`` after a warm-up, and reads the process's CPU time (user+system) and memory from
/proc. The open page is a client of /api/live, the stream the live page keeps open: ``--client sse``
(a plain reader, default) or ``--client chromium`` (the real page in headless Chromium, via Selenium).

    ./run bench web [--duration-s 60] [--repeat 1] [--client sse|chromium]
"""
from __future__ import annotations

import argparse
import http.client
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARMUP_S = 8.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mem_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB."""
    vals = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            vals[key] = int(rest.split()[0]) / 1024
    return vals["VmRSS"], vals["VmHWM"]


class SseClient(threading.Thread):
    """Reads /api/live like the page does; counts messages and bytes."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.messages, self.bytes, self.stop = port, 0, 0, threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/api/live")
        resp = conn.getresponse()
        while not self.stop.is_set():
            line = resp.fp.readline()
            if not line:
                return
            self.bytes += len(line)
            self.messages += line.startswith(b"data: ")
        conn.close()


class ChromiumClient:
    """The real live page in headless Chromium (Debian's chromium + chromium-driver)."""

    def __init__(self, port: int):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        os.environ["SE_OFFLINE"] = "true"
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
            opts.add_argument(arg)
        opts.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2}})
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        self.port, self.messages, self.bytes = port, 0, 0      # not counted for the browser

    def start(self) -> None:
        self.driver.get(f"http://127.0.0.1:{self.port}/")

    def close(self) -> None:
        self.driver.quit()


def wait_listening(proc: subprocess.Popen, port: int) -> None:
    while proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("hingemarch run exited early")


def one(case: str, duration_s: float, client_kind: str) -> dict:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        cmd = [sys.executable, "-m", "firmware_bridge.cli.hingemarch", "run", "--source", "sim", "--speed", "1",
               "--rate-hz", "200", "--no-mqtt", "--state-dir", tmp, "--log-level", "warning"]
        cmd += ["--no-web"] if case == "no web" else ["--web", "--web-host", "127.0.0.1", "--web-port", str(port)]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
        client = None
        try:
            if case != "no web":
                wait_listening(proc, port)
            if case == "page open":
                client = SseClient(port) if client_kind == "sse" else ChromiumClient(port)
                client.start()
            time.sleep(WARMUP_S)
            t0, c0 = time.monotonic(), cpu_s(proc.pid)
            m0 = client.messages if client else 0
            b0 = client.bytes if client else 0
            time.sleep(duration_s)
            wall, cpu = time.monotonic() - t0, cpu_s(proc.pid) - c0
            rss, hwm = mem_mib(proc.pid)
            out = {"cpu_pct": 100 * cpu / wall, "rss_mib": rss, "hwm_mib": hwm}
            if isinstance(client, SseClient):      # the browser's own traffic is not counted here
                out["msgs_per_s"] = (client.messages - m0) / wall
                out["kib_per_s"] = (client.bytes - b0) / wall / 1024
            return out
        finally:
            if isinstance(client, SseClient):
                client.stop.set()
            elif client:
                client.close()
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration-s", type=float, default=60.0, help="measured time per case (default %(default)s)")
    p.add_argument("--repeat", type=int, default=1, help="runs per case (default %(default)s)")
    p.add_argument("--client", choices=("sse", "chromium"), default="sse")
    args = p.parse_args()
    cases = ("no web", "web, no page", "page open")
    results: dict[str, list[dict]] = {c: [] for c in cases}
    for _ in range(args.repeat):
        for case in cases:
            results[case].append(one(case, args.duration_s, args.client))
    print(f"hingemarch run at 200 Hz, sim, recording on, MQTT off; {args.duration_s:.0f} s x {args.repeat} per case; "
          f"page client: {args.client}")
    print(f"{time.strftime('%Y-%m-%d')}  {platform.machine()}  {os.cpu_count()} CPUs  python {platform.python_version()}")
    base = {}
    for case in cases:
        rs = results[case]
        fig = {k: statistics.mean(r[k] for r in rs) for k in rs[0]}
        base.setdefault("cpu", fig["cpu_pct"])
        base.setdefault("rss", fig["rss_mib"])
        extra = (f"; page gets {fig['msgs_per_s']:.1f} messages/s, {fig['kib_per_s']:.1f} KiB/s"
                 if "msgs_per_s" in fig else "")
        print(f"  {case:<13} CPU {fig['cpu_pct']:5.2f} % of one core ({fig['cpu_pct'] - base['cpu']:+.2f})   "
              f"RSS {fig['rss_mib']:5.1f} MiB ({fig['rss_mib'] - base['rss']:+.1f}), peak {fig['hwm_mib']:5.1f} MiB{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
