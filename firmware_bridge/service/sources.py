"""``--source`` names to Source objects: the one place that knows where samples come from.

``sim``, ``replay:FILE`` (a v1 samples file or session folder), ``i2c`` (the [sensor] config) or a
chip name (``mpu6050``, ``lsm6dsox``), ``emulated:CHIP`` (the real driver on an emulated chip
moved by the simulator), and a phone: ``sensorlogger[:PORT]`` (Sensor Logger's HTTP push, received
on PORT, 8000 by default) or ``phyphox:http://PHONE:PORT`` (phyphox's remote access, polled; the
[phone] config). Everything after this hands out plain SampleBlocks.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from analysis.errors import HingemarchError, one_line
from firmware_bridge.service.config import Config
from firmware_bridge.store.folder import samples_file
from firmware_bridge.store.samples import read_samples
from imu.errors import SensorNotFound
from imu.samples import OneSensor, SampleBlock, SensorInfo, paced_blocks

CHIPS = ("mpu6050", "lsm6dsox")
SOURCES = "i2c, mpu6050, lsm6dsox, replay:FILE, sim, emulated:CHIP, sensorlogger[:PORT] or phyphox:http://PHONE:PORT"
log = logging.getLogger("hingemarch.run")


class SourceError(HingemarchError, ValueError):
    """A --source that cannot be opened: unknown name, missing file, no sensor."""


class ReplaySource(OneSensor):
    """A recorded session streamed like a live sensor: blocks of ``block_s`` paced at ``speed`` x
    recorded speed (0 or inf: as fast as the loop takes them)."""

    def __init__(self, path: str | Path, speed: float = 1.0, block_s: float = 0.1):
        p = samples_file(path)
        if not p.is_file():
            raise SourceError(f"replay: {p} does not exist")
        meta, self._block, _ = read_samples(p)
        self.meta, self.speed, self.block_s = meta, speed, block_s
        self.info = SensorInfo(meta.sensor, meta.nominal_rate_hz, meta.accel_range_g,
                               meta.gyro_range_dps, meta.calibration)
        self.status = "ok"
        self._closed = threading.Event()

    def blocks(self) -> Iterator[SampleBlock]:
        yield from paced_blocks(self._block, self.block_s, self.speed, self._closed)
        self.status = "ended"

    def close(self) -> None:
        self._closed.set()


class WaitingSource:
    """The sensor when none answers yet (not plugged in at boot): the service runs anyway, with
    ``status`` "sensor_lost" (published as an error on the phone) and an empty heartbeat block
    after every attempt, each ``retry_s``; once ``opener()`` finds the sensor, its blocks."""

    def __init__(self, opener, first_error: Exception, retry_s: float = 5.0):
        self.opener, self.retry_s, self.inner = opener, retry_s, None
        self.info = SensorInfo(sensor="none", nominal_rate_hz=0.0)
        self._stop = threading.Event()
        self._said = one_line(first_error)
        log.warning("no sensor yet (%s); trying again every %g s", self._said, retry_s)

    @property
    def status(self) -> str:
        return self.inner.status if self.inner is not None else "sensor_lost"

    @property
    def second_info(self) -> SensorInfo | None:
        return self.inner.second_info if self.inner is not None else None

    def take_second(self) -> SampleBlock:
        return self.inner.take_second() if self.inner is not None else SampleBlock.empty()

    def blocks(self) -> Iterator[SampleBlock]:
        while self.inner is None:
            yield SampleBlock.empty()
            if self._stop.wait(self.retry_s):
                return
            try:
                found = self.opener()
            except SensorNotFound as e:
                if one_line(e) != self._said:
                    self._said = one_line(e)
                    log.warning("still no sensor: %s", self._said)
                continue
            if self._stop.is_set():      # closed while the sensor was being opened
                found.close()
                return
            self.inner, self.info = found, found.info
            log.info("sensor found: %s", found.info.sensor)
        yield from self.inner.blocks()

    def close(self) -> None:
        self._stop.set()
        if self.inner is not None:
            self.inner.close()


def open_source(spec: str, cfg: Config, state_dir=None, speed: float = 1.0, seed: int = 1,
                rate_hz: float | None = None):
    """The Source for a ``--source`` value; SourceError (or a sensor error) says what is wrong.
    ``rate_hz`` (--rate-hz, checked as sensor.rate_hz is) overrides sensor.rate_hz; the sim runs at it,
    200 Hz by default."""
    if speed < 0:
        raise SourceError(f"--speed must be >= 0 (0: as fast as possible), got {speed}")
    if rate_hz is not None:
        cfg = cfg.updated("sensor", "--rate-hz", rate_hz=rate_hz)
    session = cfg.session
    if spec == "sim":
        from imu.sim import SimSource, simulate_session
        sim = simulate_session(seed, rate_hz=rate_hz or 200.0, placement=session.placement, side=session.side)
        return SimSource(sim, speed)
    if spec.startswith("emulated:"):     # the real driver stack on an emulated chip moved by the sim
        from firmware_bridge.service.wiring import emulated_source
        from imu.sim import simulate_session
        from imu.sim.leg import StanceShank
        sim = simulate_session(seed, rate_hz=rate_hz or 200.0, placement=session.placement, side=session.side)
        second = cfg.sensor.second_address    # a second chip on the standing shank
        return emulated_source(spec[len("emulated:"):], sim.motion, rate_hz or 200.0, speed or 1.0,
                               second_address=second, second_motion=StanceShank(sim.motion) if second else None)
    if spec.startswith("replay:"):
        return ReplaySource(spec[len("replay:"):], speed)
    if spec == "i2c" or spec in CHIPS:
        from firmware_bridge.service.wiring import source_from_config
        sensor = cfg.sensor if spec == "i2c" else cfg.updated("sensor", "--source", chip=spec).sensor

        def opener():
            return source_from_config(sensor, state_dir)
        try:
            return opener()
        except SensorNotFound as e:      # the bus is there, the sensor is not (yet): wait for it
            return WaitingSource(opener, e)
    if spec == "sensorlogger" or spec.startswith("sensorlogger:"):
        return sensor_logger_source(spec[len("sensorlogger:"):] if ":" in spec else "", cfg)
    if spec.startswith("phyphox:"):
        return phyphox_source(spec[len("phyphox:"):], cfg)
    raise SourceError(f"unknown source {spec!r}; use {SOURCES}")


def sensor_logger_source(port: str, cfg: Config):
    """``sensorlogger[:PORT]``: Sensor Logger's pushes received on PORT (every network)."""
    from imu.phone.sensorlogger import DEFAULT_PORT, SensorLoggerSource
    try:
        number = int(port) if port else DEFAULT_PORT
    except ValueError:
        number = None
    if number is None or not 1 <= number <= 65535:
        raise SourceError(f"sensorlogger:{port}: the port must be a whole number 1..65535 (e.g. sensorlogger:8000)")
    return SensorLoggerSource(number, timeout_s=cfg.phone.timeout_s)


def phyphox_source(url: str, cfg: Config):
    """``phyphox:http://PHONE:PORT``: phyphox's remote access polled at that address (the one the app
    shows), for the buffers the [phone] config names."""
    from urllib.parse import urlsplit

    from imu.phone.phyphox import Buffers, PhyphoxSource
    full = url if "://" in url else f"http://{url}"
    parts = urlsplit(full)
    try:
        ok = parts.scheme == "http" and bool(parts.hostname) and (parts.port or 80) > 0
    except ValueError:                   # a port that is not a number 0..65535
        ok = False
    if not ok:
        raise SourceError(f"phyphox:{url}: give the address phyphox shows under remote access, "
                          "e.g. phyphox:http://192.168.1.20:8080")
    try:
        accel = Buffers.parse(cfg.phone.phyphox_accel, "phone.phyphox_accel")
        gyro = Buffers.parse(cfg.phone.phyphox_gyro, "phone.phyphox_gyro")
    except HingemarchError as e:
        raise SourceError(str(e)) from None
    return PhyphoxSource(f"http://{parts.netloc}", accel, gyro, timeout_s=cfg.phone.timeout_s)
