"""The live session logic between the source and the outputs: pipeline, recorder, MQTT, commands.

``Service.feed(block)`` runs one block through the pipeline and hands the events to the recorder and
the publisher; commands queued from the MQTT thread are applied between blocks. The recorder writes
from its own thread: a stalled or full disk is shown on status/error while counting goes on, and an
unwritable folder at the start turns recording off, not the counting (docs/session-format.md).
"""
from __future__ import annotations

import logging
import queue
import secrets
import time
from dataclasses import replace
from pathlib import Path

from analysis.errors import HingemarchError
from analysis.events import RepEvent, SetEvent
from analysis.pipeline import Params, Pipeline
from analysis.reps import RepParams
from analysis.sides import per_side
from analysis.sway.baseline import compare
from firmware_bridge import __version__
from firmware_bridge.mqtt.topics import Command
from firmware_bridge.service.baseline import athlete_baseline
from firmware_bridge.service.config import Config, axis_vector
from firmware_bridge.store.recorder import SessionRecorder
from firmware_bridge.store.samples import SessionMeta
from imu.samples import SampleBlock

log = logging.getLogger("hingemarch.run")


def pipeline_params(cfg: Config) -> Params:
    """The [analysis] section (and the placement) as the pipeline's parameters: every key of it
    reaches the analysis here."""
    a = cfg.analysis
    return Params(set_gap_s=a.set_gap_s, reps=RepParams(placement=cfg.session.placement, min_hinge_deg=a.min_hinge_deg),
                  exercise=a.exercise)


def new_session_id() -> str:
    """UTC start plus 4 hex digits: sortable, and unique even for two sessions in one second."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(2)


class LiveSession:
    """One session: its id, pipeline, recorder (None once recording failed), event counter."""

    def __init__(self, cfg: Config, side: str, info, sessions_dir: Path | None, t0_s: float,
                 second_info=None):
        self.id, self.t0_s, self.seq, self.side = new_session_id(), t0_s, 0, side
        axis = axis_vector(cfg.sensor.second_forward_axis) if second_info is not None else None
        self.pipeline = Pipeline(pipeline_params(cfg), second_forward_axis=axis)   # the second's sway per set
        self.sets: list[dict] = []
        self.reps = 0
        self.set_sides: dict[int, str] = {}   # set index -> the side active at its first rep
        self.recorder: SessionRecorder | None = None
        self.meta = SessionMeta(sensor=info.sensor, placement=cfg.session.placement, side=side,
                                nominal_rate_hz=info.nominal_rate_hz, accel_range_g=info.accel_range_g,
                                gyro_range_dps=info.gyro_range_dps, calibration=dict(info.calibration),
                                software_version=__version__, session_id=self.id,
                                athlete=cfg.session.athlete)
        self.second = second_info is not None   # a second sensor on the standing leg or pelvis (docs/sway.md)
        second_meta = None
        if second_info is not None:
            second_meta = replace(self.meta, sensor=second_info.sensor, placement="second",
                                  nominal_rate_hz=second_info.nominal_rate_hz,
                                  accel_range_g=second_info.accel_range_g,
                                  gyro_range_dps=second_info.gyro_range_dps, calibration={})
        if sessions_dir is not None:   # RecorderError: the caller reports it
            self.recorder = SessionRecorder(sessions_dir, self.meta, second_meta=second_meta)
        # the athlete's typical set sway from their past sessions (None until there are enough)
        self.baseline = athlete_baseline(sessions_dir, self.meta.athlete,
                                         exclude=self.recorder.folder.name if self.recorder else None)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def side_of(self, set_index: int) -> str:
        """The side of a set (and of each of its reps): the one active when its first rep came."""
        return self.set_sides.setdefault(set_index, self.side)

    def summary(self, duration_s: float) -> dict:
        """From the events seen (the recorder's files give it when recording): like summary.json."""
        return {"session_id": self.id, "athlete": self.meta.athlete, "side": self.meta.side,
                "placement": self.meta.placement, "sensor": self.meta.sensor,
                "duration_s": round(duration_s, 3), "sets": self.sets, "sides": per_side(self.sets),
                "totals": {"sets": len(self.sets), "reps": self.reps}}


class Service:
    """Owns the current LiveSession (or none) and the outputs. Single-threaded except ``on_command``."""

    def __init__(self, cfg: Config, source, publisher=None, sessions_dir: Path | None = None,
                 source_name: str = "", speed: float = 1.0):
        self.cfg, self.source, self.publisher = cfg, source, publisher
        self.sessions_dir, self.source_name, self.speed = sessions_dir, source_name, speed
        self.side = cfg.session.side
        self.commands: queue.Queue[Command] = queue.Queue()
        self.session: LiveSession | None = None
        self.want_session = cfg.run.autostart
        self.t_s = 0.0               # latest sample time from the source
        self.clock_unix_at_t0: float | None = None
        self.errors: dict[str, str] = {}         # the service's own problems (sensor, recording, outbox) by subject
        self.notes: list[str] = []               # lasting warnings from the start (MQTT outbox in memory)
        self._storage: list[str] = []            # the storage lines shown last (to log when resolved)
        self._shown_error: str | None = None     # what status/error says: that and the analysis's problems
        self.last_state: dict = {"set_index": 0, "reps_in_set": 0, "last_rep": None}
        self.last_summary: dict | None = None      # of the last session that ended
        self.last_folder: Path | None = None
        self.listeners: list = []    # listen(kind, body) in this thread: every event and command reply (web page)
        self.parts: dict = {}        # status of optional parts, shown in the state (e.g. "web")
        self.web = None              # the web server kept up after the source ended (serve(keep_web=True))

    # --- called from the MQTT thread --------------------------------------------------------------
    def on_command(self, cmd: Command) -> None:
        self.commands.put(cmd)

    # --- the loop -------------------------------------------------------------------------------------
    def feed(self, block: SampleBlock) -> None:
        """One block (an empty one is a heartbeat from a lost sensor: status and commands only)."""
        if len(block) and self.clock_unix_at_t0 is None:   # sample time -> wall clock (latency bench)
            self.clock_unix_at_t0 = time.time() - float(block.t_s[-1]) / (self.speed or float("inf"))
        if len(block):
            self.t_s = float(block.t_s[-1])
        if self.session is None and self.want_session and len(block):
            self._start(float(block.t_s[0]))
        s = self.session
        self._take_second(s)          # first: a set that closes in this block has its sway
        if s is not None and len(block):
            rel = SampleBlock(block.t_s - s.t0_s, block.accel_mps2, block.gyro_dps)
            self._record(lambda r: r.samples(rel))
            self._emit(s.pipeline.feed(rel.t_s, rel.accel_mps2, rel.gyro_dps))
        self.apply_commands()
        self._check_sensor()
        self._show_error()
        self.publish_state()

    def apply_commands(self) -> None:
        while True:
            try:
                cmd = self.commands.get_nowait()
            except queue.Empty:
                return
            try:
                error = self._apply(cmd)
            except HingemarchError as e:
                error = str(e)
            log.info("command %s%s: %s", cmd.name, f" {cmd.side}" if cmd.side else "", error or "done")
            self._tell("reply", {"command": cmd, "ok": error is None, "error": error})
            if self.publisher:
                self.publisher.reply(cmd, error is None, error, self.session.id if self.session else None)

    def finish(self) -> None:
        """End of stream or shutdown: close the session properly."""
        self.apply_commands()
        if self.session is not None:
            self._stop()
        self.publish_state()

    def state(self) -> dict:
        s = self.session
        base = {"running": s is not None, "session_id": s.id if s else None, "side": self.side,
                "source": self.source_name, "sensor": self.source.info.sensor,
                "sensor_status": self.source.status, "seq": s.seq if s else 0,
                "recording": bool(s and s.recorder), "source_t_s": round(self.t_s, 3), "error": self.error,
                "clock": {"unix_s_at_t0": self.clock_unix_at_t0, "speed": self.speed,
                          "session_t0_s": s.t0_s if s else None}}
        base.update(self.parts)
        if s is None:    # between sessions the tiles keep showing how the last one ended
            return {**self.last_state, **base}
        return {**s.pipeline.state, **base}

    def publish_state(self) -> None:
        if self.publisher:
            self.publisher.update(self.state())

    # --- internals ----------------------------------------------------------------------------------
    def _apply(self, cmd: Command) -> str | None:
        s = self.session
        if cmd.name == "side":
            self.side = cmd.side
            if s:
                s.side = cmd.side
            return None
        if cmd.name == "start":
            if s:
                return f"session {s.id} is already running"
            self.want_session = True
            self._start(self.t_s)
            return None
        if s is None:
            return "no session is running"
        if cmd.name == "stop":
            self.want_session = False
            self._stop()
        elif cmd.name == "new_set":
            self._emit(s.pipeline.new_set(self.t_s - s.t0_s))
        elif cmd.name == "exercise":        # the open set ends; the next counts this exercise
            self._emit(s.pipeline.set_exercise(cmd.exercise, self.t_s - s.t0_s))
        elif cmd.name == "undo":
            rep = s.pipeline.undo_last_rep()
            if rep is None:
                return "no rep to undo in the current set"
            s.reps -= 1
            side = s.side_of(rep.set_index)
            self._record(lambda r: r.undo(rep, side))
            self._publish("undo", {**rep.to_dict(), "side": side})
        return None

    def _start(self, t0_s: float) -> None:
        info, second = self.source.info, self.source.second_info
        try:
            self.session = LiveSession(self.cfg, self.side, info, self.sessions_dir, t0_s, second)
        except HingemarchError as e:     # the recorder could not create its folder: count anyway
            self._recording_failed(e)
            self.session = LiveSession(self.cfg, self.side, info, None, t0_s, second)
        s = self.session
        log.info("session %s started%s", s.id, f" in {s.recorder.folder}" if s.recorder else "")
        self._publish("session", {"phase": "started", "athlete": s.meta.athlete, "side": s.side,
                                  "placement": s.meta.placement, "sensor": s.meta.sensor,
                                  "clock": self.state()["clock"]})

    def _stop(self) -> None:
        s = self.session
        self._emit(s.pipeline.finish())
        summary = s.summary(self.t_s - s.t0_s)
        if s.recorder is not None:
            try:
                summary = {**s.recorder.close(), "session_id": s.id}
            except HingemarchError as e:
                self._recording_failed(e)
        self.last_state, self.last_summary = s.pipeline.state, summary
        self.last_folder = s.recorder.folder if s.recorder else None
        self._publish("session", {"phase": "ended", "summary": summary})
        log.info("session %s ended: %d set(s), %d rep(s)", s.id, summary["totals"]["sets"],
                 summary["totals"]["reps"])
        self.session = None

    def _take_second(self, s: LiveSession | None) -> None:
        """The second sensor's new samples: recorded, and into the pipeline for each set's sway."""
        block = self.source.take_second()     # taken even with no session: nothing piles up
        if s is None or not s.second or not len(block):
            return
        rel = SampleBlock(block.t_s - s.t0_s, block.accel_mps2, block.gyro_dps)
        self._record(lambda r: r.samples(rel, second=True))
        s.pipeline.feed_second(rel.t_s, rel.accel_mps2, rel.gyro_dps)

    def _emit(self, events) -> None:
        s = self.session
        for ev in events:
            if not isinstance(ev, (RepEvent, SetEvent)):
                continue
            side = s.side_of(ev.set_index)
            body = {**ev.to_dict(), "side": side}
            if isinstance(ev, RepEvent):
                s.reps += 1
            else:
                if s.baseline is not None and ev.sway_deg is not None:
                    body["sway_baseline"] = compare(s.baseline, ev.sway_deg)
                s.sets.append(body)
                log.info("session %s: set %d ended, %d rep(s)", s.id, ev.set_index, ev.reps)
            self._record(lambda r, ev=ev, side=side: r.event(ev, side))
            self._publish(ev.kind, body)

    def _tell(self, kind: str, body: dict) -> None:
        """Hand an event or a command reply to the listeners; a failing listener never stops counting."""
        for listen in self.listeners:
            try:
                listen(kind, body)
            except Exception:
                log.exception("listener failed on %s", kind)

    def _publish(self, kind: str, body: dict) -> None:
        self._tell(kind, body)
        if self.publisher and self.session:
            try:
                self.publisher.event(kind, body, self.session.id, self.session.next_seq())
            except HingemarchError as e:     # the outbox itself cannot be written
                self._set_error(f"MQTT outbox: {e}")

    def _record(self, write) -> None:
        s = self.session
        if s is not None and s.recorder is not None:
            try:
                write(s.recorder)
            except HingemarchError as e:
                self._recording_failed(e)
                s.recorder = None

    def _recording_failed(self, e: Exception) -> None:
        self._set_error(f"recording stopped: {e}")

    def _check_sensor(self) -> None:
        lost = self.source.status == "sensor_lost"
        if lost:
            self._set_error("sensor not answering")
        else:
            self._clear_error("sensor not answering")

    @property
    def error(self) -> str | None:
        """What status/error, ``/api/state`` and the live page show: every current problem, one line
        each, in the order they first appeared (so two problems never take turns), or None."""
        return self._shown_error

    def _set_error(self, message: str) -> None:
        """One of the service's own problems; it replaces an earlier one of the same subject (the
        text before the first ': ', e.g. "recording stopped"), keeping its place in the list."""
        subject = message.split(": ", 1)[0]
        if self.errors.get(subject) != message:
            log.error("%s", message)
        self.errors[subject] = message
        self._show_error()

    def _clear_error(self, subject: str) -> None:
        if self.errors.pop(subject, None) is not None:
            log.info("resolved: %s", subject)
            self._show_error()

    def _show_error(self) -> None:
        """status/error (and ``error``): the service's own problems, its notes and the recorder's (outbox
        in memory, disk stalled or full), the MQTT link's (its watchdog, its outbox), then the
        analysis's (no still moment, accelerometer far from 1 g...), one line each; each is logged
        once when it appears."""
        s = self.session
        problems = s.pipeline.problems if s else []
        link = self.publisher.problems if self.publisher else []
        storage = self.notes + (s.recorder.problems if s and s.recorder else []) + link
        shown = "\n".join([*self.errors.values(), *storage, *problems]) or None
        if shown == self._shown_error:
            return
        before = (self._shown_error or "").split("\n")
        for p in problems:
            if p not in before:
                log.warning("analysis: %s", p)
        for p in storage:
            if p not in before:
                log.warning("%s", p)
        for p in self._storage:
            if p not in storage:
                log.info("resolved: %s", p)
        self._storage = storage
        self._shown_error = shown
        if self.publisher:
            self.publisher.set_error(shown)
