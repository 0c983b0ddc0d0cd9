"""The emulated /dev/i2c-N: chips by address, the same transaction and byte counting as the real
bus (imu.bus.BusStats), and fault injection: NACK bursts, a burst failing after some bytes,
disconnection and return (a power cycle), any action at a clock time."""
from __future__ import annotations

import errno
from collections.abc import Callable

from imu.bus import BusStats
from imu.clock import FakeClock
from imu.emulated.chip import EmulatedChip
from imu.errors import BusError


class EmulatedBus:
    """A fake /dev/i2c-N: chips by address, transaction counting, and fault injection."""

    def __init__(self, clock=None, name: str = "emulated-i2c"):
        self.clock = clock if clock is not None else FakeClock()
        self.name = name
        self.stats = BusStats()
        self.devices: dict[int, EmulatedChip] = {}
        self.absent: set[int] = set()
        self._nacks: dict[int, int] = {}
        self._fail_after: dict[int, int] = {}
        self._schedule: list[tuple[float, Callable[[], None]]] = []

    def attach(self, address: int, chip: EmulatedChip) -> EmulatedChip:
        self.devices[address] = chip
        return chip

    # -- faults -------------------------------------------------------------------------------------
    def nack(self, address: int, count: int) -> None:
        """The next ``count`` transactions to ``address`` are not acknowledged."""
        self._nacks[address] = self._nacks.get(address, 0) + count

    def fail_burst_after(self, address: int, nbytes: int) -> None:
        """The next read longer than ``nbytes`` clocks out ``nbytes`` and then fails with EIO."""
        self._fail_after[address] = nbytes

    def disconnect(self, address: int) -> None:
        self.absent.add(address)

    def reconnect(self, address: int, power_cycled: bool = True) -> None:
        self.absent.discard(address)
        if power_cycled and address in self.devices:
            self.devices[address].power_on_reset()

    def at(self, t_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` at the first transaction on or after clock time ``t_s``."""
        self._schedule.append((t_s, action))
        self._schedule.sort(key=lambda item: item[0])

    # -- the Bus interface -----------------------------------------------------------------------
    def _gate(self, address: int, what: str) -> EmulatedChip:
        now = self.clock.now()
        while self._schedule and self._schedule[0][0] <= now:
            self._schedule.pop(0)[1]()
        if address in self.absent or address not in self.devices:
            self.stats.errors += 1
            raise BusError(f"{self.name} 0x{address:02X}: {what}: no acknowledge", errno.EREMOTEIO)
        if self._nacks.get(address):
            self._nacks[address] -= 1
            self.stats.errors += 1
            raise BusError(f"{self.name} 0x{address:02X}: {what}: NACK (injected)", errno.EREMOTEIO)
        return self.devices[address]

    def read(self, address: int, reg: int, length: int) -> bytes:
        chip = self._gate(address, f"read 0x{reg:02X}+{length}")
        limit = self._fail_after.get(address)
        if limit is not None and length > limit:
            del self._fail_after[address]
            if limit:
                chip.read(reg, limit)
            self.stats.errors += 1
            raise BusError(f"{self.name} 0x{address:02X}: read failed after {limit} bytes (injected)",
                           errno.EIO)
        data = chip.read(reg, length)
        self.stats.count_read(length)
        return data

    def write(self, address: int, reg: int, data: bytes) -> None:
        self._gate(address, f"write 0x{reg:02X}").write(reg, bytes(data))
        self.stats.count_write(len(data))

    def probe(self, address: int) -> bool:
        self.stats.transactions += 1
        self.stats.wire_bytes += 2
        try:
            self._gate(address, "probe")
        except BusError:
            return False
        return True

    def close(self) -> None:
        pass
