"""Find the IMU: probe the usual addresses, read WHO_AM_I, name the chip. When nothing matches the
error says what every probed address answered, so a wiring or part problem is visible at once."""
from __future__ import annotations

from dataclasses import dataclass

from imu.errors import BusError, SensorConfigError, SensorNotFound
from imu.lsm6ds import LSM6DS3, LSM6DS3TRC, LSM6DSOX
from imu.mpu6050 import MPU6050, MPU6500, MPU9250

# InvenSense parts sit at 0x68 (AD0 low) / 0x69; ST parts at 0x6A (SA0 low) / 0x6B.
DRIVERS = {cls.name: cls for cls in (MPU6050, MPU6500, MPU9250, LSM6DS3, LSM6DS3TRC, LSM6DSOX)}
FAMILY_ADDRESSES = {0x75: (0x68, 0x69), 0x0F: (0x6A, 0x6B)}   # WHO_AM_I register -> addresses
USUAL_ADDRESSES = (0x68, 0x69, 0x6A, 0x6B)


@dataclass(frozen=True)
class Detected:
    chip: str
    address: int
    who_am_i: int

    @property
    def driver_class(self):
        return DRIVERS[self.chip]


def _identify(reg: int, value: int) -> str | None:
    for cls in DRIVERS.values():
        if cls.who_am_i_reg == reg and cls.who_am_i_value == value:
            return cls.name
    return None


def detect(bus, chip: str = "auto", address: int = 0) -> Detected:
    """The first supported chip found. ``chip`` other than "auto" must match WHO_AM_I;
    ``address`` 0 probes the usual addresses, anything else only that one."""
    if chip != "auto" and chip not in DRIVERS:
        raise SensorConfigError(f"unknown chip {chip!r} (choose auto, {', '.join(DRIVERS)})")
    addresses = (address,) if address else USUAL_ADDRESSES
    findings = []
    for addr in addresses:
        regs = [r for r, addrs in FAMILY_ADDRESSES.items() if addr in addrs] or list(FAMILY_ADDRESSES)
        if chip != "auto":
            regs = [DRIVERS[chip].who_am_i_reg]
        for reg in regs:
            try:
                value = bus.read(addr, reg, 1)[0]
            except BusError as e:
                findings.append(f"0x{addr:02X}: no answer ({e.strerror or e})")
                break
            name = _identify(reg, value)
            if name and (chip == "auto" or name == chip):
                return Detected(name, addr, value)
            what = f"is a {name}, not a {chip}" if name else "is not a supported chip"
            findings.append(f"0x{addr:02X}: WHO_AM_I (0x{reg:02X}) = 0x{value:02X}, {what}")
    wanted = "supported IMU" if chip == "auto" else chip
    supported = ", ".join(f"{c.name} (0x{c.who_am_i_value:02X})" for c in DRIVERS.values())
    raise SensorNotFound(f"no {wanted} found on {getattr(bus, 'name', 'the bus')}:\n  "
                         + "\n  ".join(findings) + f"\nsupported chips (WHO_AM_I): {supported}")


def scan(bus, first: int = 0x08, last: int = 0x77) -> list[int]:
    """Every 7-bit address in first..last that acknowledges (like ``i2cdetect -r``)."""
    return [a for a in range(first, last + 1) if bus.probe(a)]
