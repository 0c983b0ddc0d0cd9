"""The one seam between drivers and hardware: a tiny I2C bus interface and its real implementation
on smbus2 (register reads go through ``i2c_rdwr`` so a burst is not capped at SMBus's 32 bytes).
Which backend to open is chosen by name in firmware_bridge.service.wiring."""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Protocol

from imu.errors import BusError, BusOpenError

# Linux i2c-dev refuses messages longer than 8192 bytes; stay well inside it.
MAX_TRANSFER_BYTES = 4096


@dataclass
class BusStats:
    """Transactions and bytes on the wire (address and register bytes included, ACK bits not)."""

    transactions: int = 0
    wire_bytes: int = 0
    payload_bytes: int = 0
    errors: int = 0

    def count_read(self, n: int) -> None:
        # START addr+W, reg, repeated START addr+R, n data bytes, STOP
        self.transactions += 1
        self.wire_bytes += 3 + n
        self.payload_bytes += n

    def count_write(self, n: int) -> None:
        self.transactions += 1
        self.wire_bytes += 2 + n
        self.payload_bytes += n

    def bus_bits(self) -> int:
        """Clock cycles the traffic needs: 9 per byte (8 + ACK), about 3 per START/STOP pair."""
        return 9 * self.wire_bytes + 3 * self.transactions


class Bus(Protocol):
    """What a driver may do with the bus. Errors are :class:`imu.errors.BusError`."""

    name: str
    stats: BusStats

    def read(self, address: int, reg: int, length: int) -> bytes: ...

    def write(self, address: int, reg: int, data: bytes) -> None: ...

    def probe(self, address: int) -> bool: ...

    def close(self) -> None: ...


class SMBus2Bus:
    """/dev/i2c-N through smbus2. ``read`` is one combined write(reg)+read(n) transfer."""

    def __init__(self, bus_number: int = 1):
        try:
            import smbus2
        except ImportError as e:  # pragma: no cover - the venv always has it
            raise BusOpenError(errno.ENOENT, f"smbus2 is not installed: {e}") from None
        self._smbus2 = smbus2
        self.name = f"/dev/i2c-{bus_number}"
        self.stats = BusStats()
        try:
            self._bus = smbus2.SMBus(bus_number)
        except FileNotFoundError:
            raise BusOpenError(errno.ENOENT, f"{self.name} does not exist: enable I2C "
                               "(raspi-config → Interface Options → I2C) or pick another i2c_bus") from None
        except PermissionError:
            raise BusOpenError(errno.EACCES, f"no permission to open {self.name}: add the user to "
                               "the 'i2c' group") from None
        except OSError as e:
            raise BusOpenError(e.errno or errno.EIO, f"cannot open {self.name}: {e.strerror or e}") from None

    def _fail(self, what: str, address: int, e: OSError) -> BusError:
        self.stats.errors += 1
        return BusError(f"{self.name} 0x{address:02X}: {what} failed: "
                        f"{e.strerror or os.strerror(e.errno or errno.EIO)}", e.errno)

    def read(self, address: int, reg: int, length: int) -> bytes:
        if not 0 < length <= MAX_TRANSFER_BYTES:
            raise ValueError(f"read length {length} outside 1..{MAX_TRANSFER_BYTES}")
        msg_w = self._smbus2.i2c_msg.write(address, [reg])
        msg_r = self._smbus2.i2c_msg.read(address, length)
        try:
            self._bus.i2c_rdwr(msg_w, msg_r)
        except OSError as e:
            raise self._fail(f"read 0x{reg:02X}+{length}", address, e) from None
        self.stats.count_read(length)
        return bytes(msg_r)

    def write(self, address: int, reg: int, data: bytes) -> None:
        msg = self._smbus2.i2c_msg.write(address, bytes([reg]) + bytes(data))
        try:
            self._bus.i2c_rdwr(msg)
        except OSError as e:
            raise self._fail(f"write 0x{reg:02X}", address, e) from None
        self.stats.count_write(len(data))

    def probe(self, address: int) -> bool:
        """A one-byte read, as i2cdetect -r does: True when the address acknowledges."""
        msg = self._smbus2.i2c_msg.read(address, 1)
        try:
            self._bus.i2c_rdwr(msg)
        except OSError:
            return False
        finally:
            self.stats.transactions += 1
            self.stats.wire_bytes += 2
        return True

    def close(self) -> None:
        self._bus.close()

