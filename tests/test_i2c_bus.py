"""The smbus2 side of the seam, with smbus2's SMBus replaced by a fake kernel: one combined
write+read per register read (no 32-byte cap), errno mapped to BusError (NACK or not), counting.
Plus the hardware tier: real chip tests, skipped unless HINGEMARCH_I2C_BUS names a bus."""
from __future__ import annotations

import ctypes
import errno
import os

import numpy as np
import pytest
import smbus2

from imu.bus import SMBus2Bus
from imu.errors import BusError


class FakeKernelBus:
    """Stands in for smbus2.SMBus: a register file at 0x68, i2c_rdwr like the ioctl."""

    fail_with: int | None = None

    def __init__(self, bus_number):
        self.regs = bytearray(range(256))
        self.calls = []
        self.pointer = 0

    def i2c_rdwr(self, *msgs):
        self.calls.append([(m.addr, m.flags, m.len) for m in msgs])
        if FakeKernelBus.fail_with:
            raise OSError(FakeKernelBus.fail_with, os.strerror(FakeKernelBus.fail_with))
        for m in msgs:
            if m.addr != 0x68:
                raise OSError(errno.EREMOTEIO, "Remote I/O error")
            if m.flags & smbus2.smbus2.I2C_M_RD:
                data = bytes(self.regs[(self.pointer + i) & 0xFF] for i in range(m.len))
                ctypes.memmove(m.buf, data, m.len)
            else:
                raw = bytes(m)
                self.pointer = raw[0]
                for i, b in enumerate(raw[1:]):
                    self.regs[(self.pointer + i) & 0xFF] = b

    def close(self):
        pass


@pytest.fixture
def bus(monkeypatch):
    monkeypatch.setattr(smbus2, "SMBus", FakeKernelBus)
    FakeKernelBus.fail_with = None
    b = SMBus2Bus(1)
    yield b
    FakeKernelBus.fail_with = None


def test_long_read_is_one_combined_transfer(bus):
    data = bus.read(0x68, 0x10, 100)
    assert data == bytes(range(0x10, 0x10 + 100))
    (call,) = bus._bus.calls
    assert [c[2] for c in call] == [1, 100] and call[1][1] & smbus2.smbus2.I2C_M_RD
    assert (bus.stats.transactions, bus.stats.wire_bytes, bus.stats.payload_bytes) == (1, 103, 100)


def test_write_then_read_back(bus):
    bus.write(0x68, 0x1B, b"\x18")
    assert bus.read(0x68, 0x1B, 1) == b"\x18"
    assert bus.stats.wire_bytes == 3 + 4


def test_nack_and_other_errors_map_to_bus_error(bus):
    with pytest.raises(BusError) as e:
        bus.read(0x69, 0x75, 1)
    assert e.value.nack and "/dev/i2c-1 0x69: read 0x75+1 failed: Remote I/O error" in str(e.value)
    assert isinstance(e.value, OSError) and e.value.errno == errno.EREMOTEIO
    FakeKernelBus.fail_with = errno.EIO
    with pytest.raises(BusError) as e:
        bus.read(0x68, 0x74, 12)
    assert not e.value.nack and bus.stats.errors == 2
    FakeKernelBus.fail_with = errno.ETIMEDOUT
    with pytest.raises(BusError, match="timed out"):
        bus.write(0x68, 0x6B, b"\x80")
    FakeKernelBus.fail_with = None
    assert bus.probe(0x68) and not bus.probe(0x42)


# -- hardware tier -----------------------------------------------------------------------------------
HW_BUS = os.environ.get("HINGEMARCH_I2C_BUS")
hardware = pytest.mark.skipif(not HW_BUS, reason="set HINGEMARCH_I2C_BUS=1 with a chip wired, at rest")


@hardware
def test_real_chip_streams_at_its_rate_at_rest():
    from imu.driver import SensorSettings
    from imu.i2c_source import I2cSource

    src = I2cSource(SMBus2Bus(int(HW_BUS)), settings=SensorSettings(200, 16, 2000, 42), owns_bus=True)
    blocks = []
    for block in src.blocks():
        blocks.append(block)
        if src.clock.now() - src.t0_s > 4.0:
            break
    src.close()
    a = np.concatenate([b.accel_mps2 for b in blocks])
    assert not src.gaps
    assert src.measured_rate_hz == pytest.approx(src.applied.rate_hz, rel=0.05)
    assert np.linalg.norm(a.mean(axis=0)) == pytest.approx(9.81, rel=0.1)
    assert src.stats.bursts <= len(a) / 10 + 2
