"""Emulated IMUs on a fake I2C bus, in the spirit of gpiozero's mock pins: a chip is told physics
(m/s^2 and deg/s from a motion object's ``.at(t_s)``) and turns it into register bytes and FIFO
frames at its configured rate, on a clock tests can drive. The REAL drivers run against it.

``motions`` (what a chip is told), ``chip`` (register file, reset, sample generation), the register
models ``invensense`` and ``st`` (on the drivers' register definitions, with their own copy of the
datasheet values), ``bus`` (EmulatedBus: NACK bursts, failed bursts, disconnection and return).
Here: the chips by name, and a bus holding one.
"""
from __future__ import annotations

from imu.emulated import invensense, st
from imu.emulated.bus import EmulatedBus
from imu.emulated.chip import EmulatedChip

MODELS: dict[str, type[EmulatedChip]] = {c.name: c for c in (
    invensense.EmulatedMPU6050, invensense.EmulatedMPU6500, invensense.EmulatedMPU9250,
    st.EmulatedLSM6DS3, st.EmulatedLSM6DS3TRC, st.EmulatedLSM6DSOX)}


def make_chip(chip: str, motion=None, clock=None, **options) -> EmulatedChip:
    try:
        cls = MODELS[chip]
    except KeyError:
        raise ValueError(f"no emulated chip {chip!r} (choose {', '.join(MODELS)})") from None
    return cls(motion, clock, **options)


def emulated_bus(chip: str = "mpu6050", motion=None, clock=None, address: int | None = None,
                 **chip_options) -> EmulatedBus:
    """A bus holding one emulated chip at its default (or the given) address."""
    bus = EmulatedBus(clock)
    c = make_chip(chip, motion, bus.clock, **chip_options)
    bus.attach(address or c.default_address, c)
    return bus
