"""Faults injected into a running ``hingemarch run`` against a real Mosquitto: is any rep lost?

Each fault runs the service as a real process (``--source sim --speed 10``, recording and MQTT on,
the product's own reconnect settings) with a phone-like subscriber (MQTT 5, persistent session,
QoS 1) and is injected several times mid-set, at the arrival of a chosen rep:

    broker_kill    SIGKILL the broker, restart it 2 s later (its persistence on, like the Pi's)
    service_kill   SIGKILL the service, start it again at once (systemd's Restart=, without its delay)
    disk_full      fill the state directory's file system for 4 s (a small loop-mounted ext4)
    storage_stall  freeze that file system (fsfreeze) for 6 s: what a stalling SD card does
    hostile        a burst of malformed, oversized and deeply nested commands on <base>/cmd

Per fault it prints rep events done / delivered / duplicated, reps in the session files, and the
seconds until the phone sees current values again. "Done" is the most any witness saw: the
events' own sequence numbers (a gap is a lost event), the files, and a recount of the recorded
samples with the offline pipeline. Targets: 0 lost everywhere, <= 1 duplicate per broker kill,
current values back within 5 s. The two disk faults need root (mount, fsfreeze); without it they
are skipped with a line saying so.

    ./run bench faults [--repeat 3] [--only broker_kill,hostile] [--seed 2]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from firmware_bridge.mqtt.localbroker import LocalBroker  # noqa: E402
from firmware_bridge.store.folder import read_reps  # noqa: E402

SPEED = 10.0
CURRENT_LAG_S = 1.0        # a state message this close to the service's own clock is "current"
PREFIX = "faults"
HOSTILE = [   # (topic suffix, payload): each must get a one-line error reply and harm nothing
    ("cmd", b"[" * 1000), ("cmd", b"{" * 1024), ("cmd", b"]" * 1024),
    ("cmd", b'{"cmd":"start","id":' + b'{"a":' * 150 + b"1" + b"}" * 151),
    ("cmd", b'{"cmd":"start","id":1e999}'), ("cmd", b'{"cmd":"start","id":NaN}'),
    ("cmd", b'{"cmd":"start","id":' + b"9" * 1000 + b"}"), ("cmd/start", b"\xff\xfe\xfd"),
    ("cmd/side", b"\xed\xa0\x80"), ("cmd", b'{"cmd":5}'), ("cmd", b'{"cmd":["start"]}'),
    ("cmd", b'"start"'), ("cmd", b"[]"), ("cmd", b'{"cmd":"side","side":{"x":1}}'),
    ("cmd/undo", b"\x00" * 1024), ("cmd/start", os.urandom(1024)), ("cmd/start", b"x" * 1025),
    ("cmd/reboot", b""), ("cmd", b'{"cmd":"side","side":"middle"}'),
]


class Phone:
    """What a phone on the broker sees: every message under the device with its arrival time."""

    def __init__(self, broker: LocalBroker, base: str, name: str = "phone"):
        self.base, self.messages, self.lock = base, [], threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{name}-{uuid.uuid4().hex[:6]}",
                                  protocol=MQTTProtocolVersion.MQTTv5)
        self.client.reconnect_delay_set(1, 1)        # a phone app that retries every second
        self.client.on_message = self._on_message
        ready = threading.Event()
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{base}/#", qos=1)
        props = paho.Properties(paho.PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600         # messages sent while it was away are kept for it
        self.client.connect(broker.host, broker.port, clean_start=False, properties=props)
        self.client.loop_start()
        if not ready.wait(10):
            raise SystemExit("bench: the phone could not subscribe")

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((time.time(), msg.topic[len(self.base) + 1:], bytes(msg.payload), msg.retain))

    def of(self, suffix: str, since: float = 0.0) -> list[tuple[float, bytes]]:
        with self.lock:
            return [(t, p) for t, topic, p, _ in self.messages if topic == suffix and t >= since]

    def events(self) -> list[dict]:
        with self.lock:
            return [json.loads(p) for _, topic, p, _ in self.messages if topic.startswith("event/")]

    def wait(self, pred, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.02)
        return False

    def rep_arrivals(self, since: float = 0.0) -> int:
        return len(self.of("event/rep", since))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def lag_s(arrival: float, state: dict) -> float:
    """How far a state message is behind the service's own clock when it arrives (wall seconds)."""
    clock = state.get("clock") or {}
    if not clock.get("unix_s_at_t0") or not clock.get("speed"):
        return float("inf")
    return (arrival - clock["unix_s_at_t0"]) - state["source_t_s"] / clock["speed"]


def current_states(phone: Phone, since: float = 0.0) -> list[float]:
    """Arrival times of the state messages that were current (running session, on time)."""
    out = []
    for t, p in phone.of("state", since):
        s = json.loads(p)
        if s.get("running") and lag_s(t, s) <= CURRENT_LAG_S:
            out.append(t)
    return out


class Run:
    """One ``hingemarch run`` process of the simulated workout; the state dir may be given."""

    def __init__(self, work: Path, broker: LocalBroker, device: str, seed: int, state_dir: Path):
        self.device, self.state_dir, self.log = device, state_dir, work / f"{device}.log"
        config = work / f"{device}.toml"
        config.write_text(f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ntopic_prefix = "{PREFIX}"\n'
                          f'device_id = "{device}"\n')
        self.cmd = [sys.executable, "-m", "firmware_bridge.cli.hingemarch", "run", "--config", str(config),
                    "--state-dir", str(state_dir), "--source", "sim", "--seed", str(seed), "--speed", str(SPEED),
                    "--no-web", "--log-level", "info"]
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        return time.time()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def finish(self, timeout_s: float = 180) -> int:
        return self.proc.wait(timeout_s)


@dataclass
class Figures:
    """One fault's tally over its injections."""
    name: str
    injections: int = 0
    done: int = 0
    delivered: int = 0
    duplicated: int = 0
    in_files: int = 0
    seq_gaps: int = 0
    back_s: list[float] = field(default_factory=list)      # seconds until current values, per injection
    shown_s: list[float] = field(default_factory=list)     # seconds until status/error said so
    notes: list[str] = field(default_factory=list)

    @property
    def lost_mqtt(self) -> int:
        return self.done - self.delivered

    @property
    def lost_files(self) -> int:
        return self.done - self.in_files


def recount(folder: Path) -> int:
    """Reps the offline pipeline counts in the session's recorded samples (an independent witness)."""
    out = subprocess.run([sys.executable, "-m", "firmware_bridge.cli.hingemarch", "analyze", str(folder), "--json"],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        return 0
    return int(json.loads(out.stdout)["totals"]["reps"])


def tally(fig: Figures, phone: Phone, sessions_dir: Path, complete: bool) -> None:
    """Rep events done / delivered / duplicated and reps in files, per session, into ``fig``."""
    events = [e for e in phone.events() if "seq" in e]
    by_session: dict[str, list[dict]] = {}
    for e in events:
        by_session.setdefault(e["session_id"], []).append(e)
    folders = {p.name: p for p in sessions_dir.iterdir() if p.is_dir()} if sessions_dir.is_dir() else {}
    sids = sorted(set(by_session) | set(folders))
    for sid in sids:
        evs = by_session.get(sid, [])
        unique = {e["seq"]: e for e in evs}
        reps = sum(1 for e in unique.values() if e["kind"] == "rep")
        fig.duplicated += sum(1 for e in evs if e["kind"] == "rep") - reps
        numbered = [q for q in unique if q >= 1]      # seq 0: the one "recovered" message after a crash
        gaps = (max(numbered) - len(numbered)) if numbered else 0
        fig.seq_gaps += gaps
        folder = folders.get(sid)
        in_files = len(read_reps(folder)) if folder else 0
        witnesses = [reps + gaps, in_files]
        if folder is not None:
            witnesses.append(recount(folder))
        if complete and sid == sids[-1] and not any(e["kind"] == "session" and e.get("phase") == "ended" for e in evs):
            fig.notes.append(f"session {sid}: its 'ended' event never arrived")
        fig.done += max(witnesses)
        fig.delivered += reps
        fig.in_files += in_files


def wait_reps(phone: Phone, n: int, timeout_s: float = 120) -> None:
    if not phone.wait(lambda: phone.rep_arrivals() >= n, timeout_s):
        raise SystemExit(f"bench: rep {n} never arrived (see the service log)")


def error_shown_after(phone: Phone, since: float, timeout_s: float = 10) -> float | None:
    """Seconds from ``since`` until status/error carried a problem."""
    phone.wait(lambda: any(p for _, p in phone.of("status/error", since)), timeout_s)
    shown = [t for t, p in phone.of("status/error", since) if p]
    return shown[0] - since if shown else None


def ended_at(phone: Phone, since: float) -> float | None:
    """Arrival of the first state saying the session is over (the workout ended), if any."""
    return next((t for t, p in phone.of("state", since) if not json.loads(p).get("running")), None)


def longest_stale_s(phone: Phone, start: float, end: float) -> float:
    """The longest stretch in [start, end] without a current state message on the phone (waits
    for the first one after ``end``, up to 10 s). If the workout ended meanwhile, the stretch
    closes when the phone is told so."""
    phone.wait(lambda: [t for t in current_states(phone, end) if t > end] or ended_at(phone, start), 10)
    over = ended_at(phone, start)
    times = current_states(phone, start - 5)
    before = [t for t in times if t <= start]
    if over is not None and over < end:
        inside, last = [t for t in times if start < t < over], over
    else:
        after = [t for t in times if t >= end]
        inside = [t for t in times if start < t < end]
        last = after[0] if after else (over if over is not None else end + 10)
    edges = [before[-1] if before else start, *inside, last]
    return max(b - a for a, b in zip(edges, edges[1:]))


# --- the faults ----------------------------------------------------------------------------------
def triggers(repeat: int) -> list[int]:
    """Rep arrivals at which to inject: spread over the workout's three sets, mid-set."""
    return [3 + 9 * (k % 3) + 2 * (k // 3) for k in range(repeat)]


def broker_kill(ctx) -> Figures:
    fig, run, phone = ctx.begin("broker_kill")
    for n in triggers(ctx.repeat):
        wait_reps(phone, n)
        ctx.broker.stop(kill=True)
        time.sleep(2.0)
        ctx.broker.start()
        back = time.time()
        phone.wait(lambda back=back: current_states(phone, back), 30)
        now = current_states(phone, back)
        fig.back_s.append(now[0] - back if now else float("inf"))
        fig.injections += 1
    return ctx.end(fig, run, phone)


def restart_delay_s() -> float:
    """systemd's RestartSec= from the shipped unit: how long a killed service stays down."""
    for line in (ROOT / "systemd" / "hingemarch.service").read_text().splitlines():
        if line.startswith("RestartSec="):
            return float(line.split("=", 1)[1].rstrip("s"))
    return 0.1                                   # systemd's own default


def service_kill(ctx) -> Figures:
    fig, run, phone = ctx.begin("service_kill")
    delay_s, starts = restart_delay_s(), []
    for k in range(ctx.repeat):
        wait_reps(phone, phone.rep_arrivals() + 2 + k)     # mid-set: a few reps into set 1
        time.sleep(0.3)
        run.kill()
        killed = time.time()
        time.sleep(delay_s)
        restarted = run.start()
        phone.wait(lambda restarted=restarted: current_states(phone, restarted), 30)
        now = current_states(phone, restarted)
        fig.back_s.append(now[0] - killed if now else float("inf"))
        starts.append(now[0] - restarted if now else float("inf"))
        fig.injections += 1
    fig.notes.append(f"from the kill: systemd's RestartSec={delay_s:g} s, then the process's start until its first "
                     f"state ({' / '.join(f'{s:.1f}' for s in starts)} s; the simulator builds its workout first)")
    return ctx.end(fig, run, phone)


def _storage_fault(ctx, name: str, hold_s: float, fault) -> Figures:
    """Hold ``fault()`` (a context manager on the state's file system) for ``hold_s`` at each trigger."""
    fig, run, phone = ctx.begin(name, own_fs=True)
    for n in triggers(ctx.repeat):
        wait_reps(phone, n)
        start = time.time()
        with fault():
            shown = error_shown_after(phone, start)
            time.sleep(max(0.0, hold_s - (time.time() - start)))
        end = time.time()
        fig.shown_s.append(shown if shown is not None else float("inf"))
        fig.back_s.append(longest_stale_s(phone, start, end))
        fig.injections += 1
    return ctx.end(fig, run, phone)


def disk_full(ctx) -> Figures:
    return _storage_fault(ctx, "disk_full", 4.0, ctx.fs.full)


def storage_stall(ctx) -> Figures:
    return _storage_fault(ctx, "storage_stall", 6.0, ctx.fs.frozen)


def hostile(ctx) -> Figures:
    fig, run, phone = ctx.begin("hostile")
    attacker = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-attacker-{uuid.uuid4().hex[:6]}")
    attacker.connect(ctx.broker.host, ctx.broker.port)
    attacker.loop_start()
    base = f"{PREFIX}/{run.device}"
    try:
        for k, n in enumerate(triggers(ctx.repeat)):
            wait_reps(phone, n)
            start = time.time()
            for suffix, payload in HOSTILE:
                attacker.publish(f"{base}/{suffix}", payload, qos=1).wait_for_publish(5)
            check = f"check-{k}"
            attacker.publish(f"{base}/cmd", json.dumps({"cmd": "side", "side": "left", "id": check}), qos=1)
            phone.wait(lambda check=check, start=start: any(json.loads(p).get("id") == check
                                                            for _, p in phone.of("reply", start)), 10)
            replies = [json.loads(p) for _, p in phone.of("reply", start)]
            refused = sum(1 for r in replies if not r.get("ok") and r.get("id") != check)
            answered = [t for t, p in phone.of("reply", start) if json.loads(p).get("id") == check]
            if refused < len(HOSTILE):
                fig.notes.append(f"burst {k + 1}: {refused} of {len(HOSTILE)} hostile commands got an error reply")
            if not answered:
                fig.notes.append(f"burst {k + 1}: a valid command after the burst got no reply")
            end = time.time()
            fig.back_s.append(longest_stale_s(phone, start, end))
            fig.injections += 1
    finally:
        attacker.disconnect()
        attacker.loop_stop()
    return ctx.end(fig, run, phone)


FAULTS = {"broker_kill": broker_kill, "service_kill": service_kill, "disk_full": disk_full,
          "storage_stall": storage_stall, "hostile": hostile}
OWN_FS = {"disk_full", "storage_stall"}


class LoopFs:
    """A small ext4 file system in a file, mounted on a loop device: filled or frozen at will."""

    def __init__(self, work: Path, size_mb: int = 64):
        self.image, self.mount = work / "state.ext4", work / "statefs"
        self.mount.mkdir()
        with open(self.image, "wb") as f:
            f.truncate(size_mb << 20)
        subprocess.run(["mkfs.ext4", "-q", "-m", "0", str(self.image)], check=True)
        subprocess.run(["mount", "-o", "loop", str(self.image), str(self.mount)], check=True)

    @contextlib.contextmanager
    def full(self):
        """Every free block taken meanwhile: a write that needs one gets ENOSPC."""
        filler = self.mount / "filler"
        with open(filler, "wb") as f:
            chunk = 1 << 20
            while chunk >= 4096:
                try:
                    os.posix_fallocate(f.fileno(), f.seek(0, os.SEEK_END), chunk)
                    f.seek(chunk, os.SEEK_CUR)
                except OSError:
                    chunk //= 2
        try:
            yield
        finally:
            filler.unlink()

    @contextlib.contextmanager
    def frozen(self):
        subprocess.run(["fsfreeze", "-f", str(self.mount)], check=True)
        try:
            yield
        finally:
            subprocess.run(["fsfreeze", "-u", str(self.mount)], check=True)

    def close(self) -> None:
        subprocess.run(["fsfreeze", "-u", str(self.mount)], capture_output=True)
        subprocess.run(["umount", str(self.mount)], capture_output=True)


class Context:
    """What every fault needs: a broker, a work folder, the run's seed and repeat count."""

    def __init__(self, work: Path, broker: LocalBroker, seed: int, repeat: int):
        self.work, self.broker, self.seed, self.repeat = work, broker, seed, repeat
        self.fs: LoopFs | None = None

    def begin(self, name: str, own_fs: bool = False) -> tuple[Figures, Run, Phone]:
        device = name.replace("_", "-")
        state = (self.fs.mount if own_fs else self.work) / f"state-{device}"
        run = Run(self.work, self.broker, device, self.seed, state)
        phone = Phone(self.broker, f"{PREFIX}/{device}")
        run.start()
        return Figures(name), run, phone

    def end(self, fig: Figures, run: Run, phone: Phone) -> Figures:
        code = run.finish()
        if code != 0:
            fig.notes.append(f"the service exited with {code} (log: {run.log})")
        time.sleep(1.0)
        tally(fig, phone, run.state_dir / "sessions", complete=True)
        phone.close()
        return fig


def report(fig: Figures) -> tuple[str, bool]:
    back = max(fig.back_s) if fig.back_s else float("nan")
    dup_limit = fig.injections if fig.name == "broker_kill" else 0
    ok = fig.lost_mqtt == 0 and fig.lost_files == 0 and fig.duplicated <= dup_limit and back <= 5.0
    ok = ok and all(s <= 2.0 for s in fig.shown_s)
    kind = "longest without current values" if fig.name in ("disk_full", "storage_stall", "hostile") \
        else "current values back after"
    line = (f"{fig.name:14s} x{fig.injections}: rep events done {fig.done}, delivered {fig.delivered}, "
            f"duplicated {fig.duplicated}, seq gaps {fig.seq_gaps}; reps in files {fig.in_files}; "
            f"{kind} {' / '.join(f'{s:.1f}' for s in fig.back_s)} s")
    if fig.shown_s:
        line += f"; on status/error after {' / '.join(f'{s:.1f}' for s in fig.shown_s)} s"
    line += "  " + ("ok" if ok else "MISSED")
    return "\n".join([line, *(f"    {n}" for n in fig.notes)]), ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="injections per fault (default 3)")
    ap.add_argument("--only", default=",".join(FAULTS), help="comma-separated faults (default all)")
    ap.add_argument("--seed", type=int, default=2, help="which simulated workout (default 2)")
    args = ap.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        ap.error(f"unknown fault {unknown[0]!r}; expected some of {', '.join(FAULTS)}")
    root = os.geteuid() == 0 and shutil.which("fsfreeze") and shutil.which("mkfs.ext4")
    print(f"# hingemarch bench faults  {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC  "
          f"{platform.processor() or platform.machine()}  {os.cpu_count()} CPUs  python {platform.python_version()}")
    print(f"sim seed {args.seed} at speed {SPEED:g}, recording + MQTT on, one Mosquitto (persistence on) on loopback; "
          f"{args.repeat} injections per fault")
    work = Path(tempfile.mkdtemp(prefix="hm-faults-"))
    broker = LocalBroker(work / "mosquitto", persistence=True).start()
    ctx = Context(work, broker, args.seed, args.repeat)
    all_ok = True
    try:
        if any(n in OWN_FS for n in names) and root:
            ctx.fs = LoopFs(work)
        for name in names:
            if name in OWN_FS and not root:
                print(f"{name:14s} skipped: needs root with mkfs.ext4 and fsfreeze (a loop-mounted file system)")
                continue
            line, ok = report(FAULTS[name](ctx))
            print(line, flush=True)
            all_ok &= ok
    finally:
        broker.stop()
        if ctx.fs is not None:
            ctx.fs.close()
    print("targets: 0 lost (MQTT and files), <= 1 duplicate per broker kill, current values within 5 s, "
          "a storage problem on status/error within 2 s")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
