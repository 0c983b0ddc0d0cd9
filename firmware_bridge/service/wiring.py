"""The one place that wires sensor sources: a bus opened by backend name, the FIFO source built from
the ``[sensor]`` config section, the emulated full stack, the paired second sensor. ``imu`` only
provides the parts (bus, drivers, source, emulated chips) and never imports this."""
from __future__ import annotations

import errno

from firmware_bridge.service.config import SensorConfig
from imu.bus import Bus, SMBus2Bus
from imu.calibration import Calibration, load
from imu.clock import ScaledClock, SystemClock
from imu.driver import SensorSettings
from imu.emulated import emulated_bus, make_chip
from imu.errors import BusOpenError
from imu.i2c_source import I2cSource
from imu.paired import PairedSource

DEFAULT_EMULATED_CHIP = "mpu6050"     # what the emulated backend holds when the config says "auto"


def open_bus(backend: str = "smbus2", bus_number: int = 1, **emulated_options) -> Bus:
    """Open a bus by name: ``"smbus2"`` (the real /dev/i2c-N) or ``"emulated"`` (an emulated chip,
    options such as ``chip="mpu6050"`` passed to imu.emulated.emulated_bus, on a real-time clock
    unless one is given). Anything else is an error: there is no silent fallback."""
    if backend == "smbus2":
        return SMBus2Bus(bus_number)
    if backend == "emulated":
        emulated_options.setdefault("clock", ScaledClock(1.0))    # real time unless told
        return emulated_bus(**emulated_options)
    raise BusOpenError(errno.EINVAL, f"unknown I2C backend {backend!r} (choose 'smbus2' or 'emulated')")


def _emulated_chip(sensor: SensorConfig) -> str:
    return DEFAULT_EMULATED_CHIP if sensor.chip == "auto" else sensor.chip


def open_sensor_bus(sensor: SensorConfig, emulate: str | None = None, motion=None, speed: float = 1.0):
    """(bus, clock) for a ``[sensor]`` section: the real bus on the host clock, or for the emulated
    backend one ``emulate`` chip (default: the configured chip, mpu6050 for "auto"), moved by
    ``motion`` (at rest when None), on its own clock at ``speed`` times real time."""
    if sensor.backend == "emulated":
        bus = open_bus("emulated", chip=emulate or _emulated_chip(sensor), motion=motion,
                       clock=ScaledClock(speed))
        return bus, bus.clock
    return open_bus(sensor.backend, sensor.i2c_bus), SystemClock()


def sensor_settings(sensor: SensorConfig) -> SensorSettings:
    """The chip settings a ``[sensor]`` section asks for."""
    return SensorSettings(sensor.rate_hz, sensor.accel_range_g, sensor.gyro_range_dps, sensor.dlpf_hz)


def source_from_config(s: SensorConfig, state_dir=None, clock=None):
    """The source described by the ``[sensor]`` config section, with the stored calibration: an
    I2cSource, or a PairedSource when ``second_address`` names a second chip on the same bus.
    The emulated backend holds chips at rest on their own real-time clock (``clock`` is ignored)."""
    bus, bus_clock = open_sensor_bus(s)
    if s.backend == "emulated":
        clock = bus_clock
        if s.second_address:
            bus.attach(s.second_address, make_chip(_emulated_chip(s), None, clock))
    settings = sensor_settings(s)
    try:
        src = I2cSource(bus, s.chip, s.address, settings, clock=clock, owns_bus=True)
        second = I2cSource(bus, "auto", s.second_address, settings, clock=clock) if s.second_address else None
    except BaseException:
        bus.close()
        raise
    src.calibration = load(state_dir, src.chip)
    if src.calibration:
        src.info.calibration = src.calibration.to_dict()
    return src if second is None else PairedSource(src, second)


def emulated_source(chip: str, motion, rate_hz: float = 200.0, speed: float = 1.0, *,
                    clock=None, accel_range_g: float = 16.0, gyro_range_dps: float = 2000.0,
                    dlpf_hz: float = 42.0, calibration: Calibration | None = None,
                    duration_s: float | None = None, disconnect_s: tuple | None = None,
                    nack_burst: tuple | None = None, stuck_who_am_i: tuple | None = None,
                    second_address: int = 0, second_motion=None, **chip_options):
    """The real driver + I2cSource stack on an emulated chip moved by ``motion`` (``.at(t_s)``;
    its t = 0 is the source's session t_s = 0). ``speed`` > 1 runs the emulated clock faster than
    real time (ignored when a ``clock`` is given). The stream ends after ``duration_s`` (default:
    ``motion.duration_s`` if it has one, else never). Faults, times in seconds from this call:
    ``disconnect_s=(start, end)``, ``nack_burst=(t, count)``, ``stuck_who_am_i=(start, end, value)``;
    other keywords (``rate_error_ppm``, ``accel_offset_mps2``, ``accel_gain``, ``gyro_bias_dps``,
    ``noise_lsb``, ``temperature_c``) go to the chip. ``second_address``: a second chip of the same
    kind there, moved by ``second_motion``, read alongside (an imu.paired.PairedSource)."""
    clock = clock if clock is not None else ScaledClock(speed)
    bus = emulated_bus(chip, motion, clock, **chip_options)
    address, emu = next(iter(bus.devices.items()))
    t0 = clock.now()
    if disconnect_s:
        bus.at(t0 + disconnect_s[0], lambda: bus.disconnect(address))
        bus.at(t0 + disconnect_s[1], lambda: bus.reconnect(address))
    if nack_burst:
        bus.at(t0 + nack_burst[0], lambda: bus.nack(address, int(nack_burst[1])))
    if stuck_who_am_i:
        start, end, value = stuck_who_am_i
        bus.at(t0 + start, lambda: setattr(emu, "stuck_who_am_i", value))
        bus.at(t0 + end, lambda: setattr(emu, "stuck_who_am_i", None))
    settings = SensorSettings(rate_hz, accel_range_g, gyro_range_dps, dlpf_hz)
    src = I2cSource(bus, chip=chip, address=address, settings=settings, clock=clock,
                    calibration=calibration,
                    end_after_s=duration_s if duration_s is not None else getattr(motion, "duration_s", None))
    emu.motion_t0_s = src.t0_s            # motion time == session time
    if not second_address:
        return src
    bus.attach(second_address, make_chip(chip, second_motion, clock)).motion_t0_s = src.t0_s
    return PairedSource(src, I2cSource(bus, chip=chip, address=second_address, settings=settings,
                                       clock=clock))
