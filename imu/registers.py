"""Declarative register helpers: a chip is described as tables of fields and scales, and the
driver code only looks things up. Everything here is frozen, so no table can be mutated in place."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class Register(int):
    """A register address that carries its datasheet name; an ``int`` everywhere else (a register
    file index, a dict key), so drivers and the emulated chips use the same definitions."""

    name: str

    def __new__(cls, name: str, address: int):
        reg = super().__new__(cls, address)
        object.__setattr__(reg, "name", name)
        return reg

    def __setattr__(self, key, value):
        raise AttributeError(f"register {self.name} is frozen")

    def __repr__(self) -> str:
        return f"{self.name}(0x{int(self):02X})"


@dataclass(frozen=True)
class Field:
    """``width`` bits from bit ``shift`` of register ``reg`` (datasheet: [shift+width-1:shift])."""

    name: str
    reg: int
    shift: int = 0
    width: int = 8
    mask: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mask", ((1 << self.width) - 1) << self.shift)

    def insert(self, byte: int, value: int) -> int:
        if not 0 <= value < (1 << self.width):
            raise ValueError(f"{self.name}: {value} does not fit in {self.width} bits")
        return (byte & ~self.mask & 0xFF) | (value << self.shift)

    def extract(self, byte):
        """The field's value in ``byte`` (an int, or elementwise in an integer array)."""
        return (byte & self.mask) >> self.shift


def bit(name: str, reg: int, position: int) -> Field:
    return Field(name, reg, position, 1)


@dataclass(frozen=True)
class Scale:
    """One row of a full-scale table: the code written to the range field, the full scale in
    the table's unit (g or dps), and the sensitivity in LSB per unit."""

    code: int
    full_scale: float
    lsb_per_unit: float


@dataclass(frozen=True)
class ScaleTable:
    unit: str
    rows: tuple[Scale, ...]

    def for_full_scale(self, full_scale: float) -> Scale:
        for row in self.rows:
            if row.full_scale == full_scale:
                return row
        allowed = ", ".join(f"{r.full_scale:g}" for r in self.rows)
        raise KeyError(f"±{full_scale:g} {self.unit} is not available (choose {allowed})")


@dataclass(frozen=True)
class Code:
    """One row of a rate or filter table: register code and its value in Hz."""

    code: int
    hz: float


def nearest(table: tuple[Code, ...], hz: float) -> Code:
    """Row closest to ``hz`` on a log scale (rates and corners are ratios, not differences)."""
    return min(table, key=lambda row: abs(np.log(row.hz / hz)))


@dataclass(frozen=True)
class Vector3:
    """Three int16 at consecutive addresses; ``order`` is '<' (little) or '>' (big endian)."""

    name: str
    reg: int
    order: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(f"{self.order}i2")

    def decode(self, data: bytes) -> np.ndarray:
        return np.frombuffer(data[:6], dtype=self.dtype).astype(np.int64)


def compose(values: dict[Field, int]) -> tuple[int, int]:
    """(register, byte) holding ``values``, fields of one register; every other bit is 0."""
    regs = {f.reg for f in values}
    if len(regs) != 1:
        raise ValueError(f"fields of one register expected: {', '.join(f.name for f in values)}")
    byte = 0
    for f, value in values.items():
        byte = f.insert(byte, value)
    return regs.pop(), byte


class RegisterIO:
    """Reads and writes the registers of one device on one bus. Configuration is written whole
    registers at a time, composed from fields, so no write needs a read first."""

    def __init__(self, bus, address: int):
        self.bus = bus
        self.address = address

    def read(self, reg: int, length: int) -> bytes:
        return self.bus.read(self.address, reg, length)

    def read_u8(self, reg: int) -> int:
        return self.bus.read(self.address, reg, 1)[0]

    def write_u8(self, reg: int, value: int) -> None:
        self.bus.write(self.address, reg, bytes([value & 0xFF]))

    def write_fields(self, *registers: dict[Field, int]) -> dict[int, int]:
        """Write each register in turn, composed from its fields (see :func:`compose`); returns
        {register: byte written}, what ``ImuDriver.verify`` reads back."""
        written = {}
        for values in registers:
            reg, byte = compose(values)
            self.write_u8(reg, byte)
            written[reg] = byte
        return written
