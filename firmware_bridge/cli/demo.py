"""A simulated workout through the whole live path, with the phone's view in the terminal.

The simulator plays an athlete (sets of hinge-and-marches, rests with walking, stairs, sitting,
strap adjustments) into the live service: pipeline -> session files -> MQTT, on a private
Mosquitto it starts on a free loopback port. The view below subscribes to the topics like a phone
dashboard would, and at the end the count is compared with what the simulated athlete did.
--sensor mpu6050|lsm6dsox runs the real I2C driver against an emulated chip instead. Ctrl-C or
SIGTERM ends it cleanly at any point: the session closed, the count so far compared.
"""
from __future__ import annotations

import argparse
import json
import queue
import shutil
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from analysis.errors import HingemarchError
from analysis.reps import PLACEMENTS
from firmware_bridge.cli.flags import SEED, number
from firmware_bridge.cli.signals import stop_on_signals, wait_in_main
from firmware_bridge.mqtt.localbroker import LOOPBACK, LocalBroker
from firmware_bridge.mqtt.topics import Topics
from firmware_bridge.service import config
from firmware_bridge.service.loop import serve
from firmware_bridge.service.paths import state_dir
from imu.sim.exercises import MOVES

DEVICE_ID = "demo"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--speed", type=number(0.01, 1000), default=10.0,
                   help="how much faster than real time (1 = real time, 0.01..1000; default %(default)s)")
    p.add_argument("--seed", type=SEED, default=1, help="which simulated workout, 0..4294967295 (default %(default)s)")
    p.add_argument("--placement", choices=PLACEMENTS, default="thigh")
    p.add_argument("--sets", type=number(1, 50, whole=True), default=3,
                   help="sets in the workout (1..50, default %(default)s)")
    p.add_argument("--sensor", choices=("sim", "mpu6050", "lsm6dsox"), default="sim",
                   help="sim: simulated samples; a chip name: the real driver on an emulated chip")
    p.add_argument("--state-dir", metavar="DIR", help="where the session folder goes "
                   "(default: $HINGEMARCH_STATE_DIR, $STATE_DIRECTORY, ~/.local/state/hingemarch)")
    p.add_argument("--exercise", choices=("hinge_march", *MOVES), default="hinge_march",
                   help="the simulated exercise, counted as that exercise (docs/exercises.md)")
    p.add_argument("--no-mqtt", action="store_true", help="skip the broker; show the pipeline's own state")
    p.add_argument("--exit", action="store_true",
                   help="end when the workout ends (by default the web page stays up until Ctrl-C)")


class PhoneView:
    """Subscribes to one device's topics and keeps what a dashboard would show."""

    def __init__(self, host: str, port: int, topics: Topics):
        self.topics, self.state, self.lines = topics, {}, queue.Queue()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="hingemarch-demo-view")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(topics.state, 1),
                                                                    (topics.event("+"), 1)])
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        body = json.loads(msg.payload or b"{}")
        if msg.topic == self.topics.state:
            self.state = body
        else:
            self.lines.put(body)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def event_line(ev: dict) -> str | None:
    if ev.get("kind") == "rep":
        return (f"  rep {ev['rep_in_set']:>2} of set {ev['set_index']}: hinge {ev['hinge_depth_deg']:5.1f} deg, "
                f"march {ev['march_height_deg']:5.1f} deg, {ev['duration_s']:4.1f} s")
    if ev.get("kind") == "set":
        return f"  set {ev['set_index']} done: {ev['reps']} reps"
    return None


def status_line(state: dict, t_s: float, duration_s: float, columns: int = 100) -> str:
    """The one-line view, at most ``columns - 1`` characters (so the terminal never wraps it and
    each redraw stays on its line): the progress bar shrinks first, then the line is cut."""
    last = state.get("last_rep") or {}
    frac = min(1.0, t_s / duration_s) if duration_s else 0.0
    rep = (f"last: hinge {last['hinge_depth_deg']:.0f} deg, march {last['march_height_deg']:.0f} deg, "
           f"{last['duration_s']:.1f} s" if last else "last: -")
    head = f"{state.get('side') or ''} set {state.get('set_index', 0)}  reps {state.get('reps_in_set', 0):>2}  {rep:<44}"
    room = columns - 1 - len(head) - len(" [] 100%")
    width = min(24, room)
    if width < 4:
        return head[: max(columns - 1, 0)].rstrip()
    bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
    return f"{head} [{bar}] {frac * 100:3.0f}%"


def run(args) -> int:
    from imu.sim import SimSource, simulate_session

    cfg = config.defaults().updated("session", placement=args.placement).updated("analysis", exercise=args.exercise)
    sim = simulate_session(args.seed, rate_hz=200.0, placement=args.placement, n_sets=args.sets, exercise=args.exercise)
    if args.sensor == "sim":
        source = SimSource(sim, args.speed)
    else:
        from firmware_bridge.service.wiring import emulated_source
        source = emulated_source(args.sensor, sim.motion, 200.0, args.speed)
    tty = sys.stdout.isatty()
    work = Path(tempfile.mkdtemp(prefix="hingemarch-demo-"))
    broker = view = None
    try:
        if not args.no_mqtt:
            try:
                broker = LocalBroker(work / "broker").start()
            except HingemarchError as e:
                print(f"note: {e}; running without MQTT", file=sys.stderr)
        if broker:
            cfg = cfg.updated("mqtt", host=broker.host, port=broker.port, device_id=DEVICE_ID)
            view = PhoneView(broker.host, broker.port, Topics(cfg.mqtt.topic_prefix, DEVICE_ID))
        else:
            cfg = cfg.updated("mqtt", enabled=False)
        cfg = cfg.updated("web", host=LOOPBACK)   # its usual port, or any free one if taken
        print(f"hingemarch demo: seed {args.seed}, {sim.truth.duration_s / 60:.1f} min workout at "
              f"{args.speed:g}x, sensor {args.sensor}, {args.placement}"
              + (f", MQTT on {broker.host}:{broker.port}" if broker else ""))
        duration = sim.truth.duration_s * sim.stage.clock_factor
        last_draw = 0.0
        page_told = False

        def on_block(service) -> None:
            nonlocal last_draw, page_told
            if not page_told:         # where the page really is: another demo may hold its port
                page_told = True
                page = service.parts.get("web")
                if page:
                    print(f"live page and sessions: {page['url']}" if page["url"]
                          else f"live page off: {page['error']}", flush=True)
            now = time.monotonic()
            if now - last_draw < 0.1 and service.source.status == "ok":
                return
            last_draw = now
            state = view.state if view else service.state()
            lines = _drain(view) if view else []
            if tty:
                sys.stdout.write("\r\033[K")
            for line in lines:
                print(line)
            if tty:
                sys.stdout.write(status_line(state, service.t_s, duration, shutil.get_terminal_size().columns))
                sys.stdout.flush()

        with stop_on_signals(lambda signum: source.close()) as stopping:
            service = serve(cfg, source, state_dir(args.state_dir), on_block=on_block, stop=stopping,
                            keep_web=not args.exit, web_any_port=True)
            if view:
                time.sleep(0.5)               # the last events are on their way through the broker
            if tty:
                sys.stdout.write("\r\033[K")
            for line in _drain(view) if view else []:
                print(line)
            _report(service, sim, stopped_s=service.t_s if stopping.is_set() else None)
            if service.web is not None:
                _linger(service, stopping)
    finally:
        if view:
            view.close()
        if broker:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _linger(service, stopping) -> None:
    """Keep the page up after the workout ("session ended", with its report) until Ctrl-C or SIGTERM
    (none if the workout was stopped by one)."""
    try:
        if not stopping.is_set():
            print(f"the page stays up (session ended, its report and the sessions): {service.web.url} "
                  "- Ctrl-C to end", flush=True)
            wait_in_main(stopping)
            print()
    finally:
        service.web.stop()


def _drain(view: PhoneView | None) -> list[str]:
    out = []
    while view is not None:
        try:
            line = event_line(view.lines.get_nowait())
        except queue.Empty:
            break
        if line:
            out.append(line)
    return out


def _report(service, sim, stopped_s: float | None = None) -> None:
    """The count against what the simulated athlete did; stopped early (at ``stopped_s`` of session
    time), against what they had done by then."""
    summary = service.last_summary or {}
    got = {s["set_index"]: s["reps"] for s in summary.get("sets", [])}
    if stopped_s is None:
        truth = [st.reps for st in sim.truth.sets]
    else:                             # truth in physics time, the session in the sensor's
        k = sim.stage.clock_factor
        truth = [n for st in sim.truth.sets if (n := sum(t * k <= stopped_s for t in st.rep_completion_s))]
    print((f"stopped at {stopped_s:.0f} s of the workout: " if stopped_s is not None else "")
          + f"counted {summary.get('totals', {}).get('reps', 0)} reps in {len(got)} sets; the simulated "
          f"athlete did {sum(truth)} in {len(truth)}" + (" by then" if stopped_s is not None else "")
          + (" (set by set: " + ", ".join(f"{got.get(i + 1, 0)}/{t}" for i, t in enumerate(truth)) + ")" if truth else ""))
    if service.last_folder:
        print(f"session folder: {service.last_folder}\n"
              f"look at it: hingemarch analyze {service.last_folder}")
