"""Declarative register helpers: a chip is described as tables of fields and scales, and the
driver code only looks things up. Everything here is frozen, so no table can be mutated in place."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Field:
    """``width`` bits from bit ``shift`` of register ``reg`` (datasheet: [shift+width-1:shift])."""

    name: str
    reg: int
    shift: int = 0
    width: int = 8

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.shift

    def insert(self, byte: int, value: int) -> int:
        if not 0 <= value < (1 << self.width):
            raise ValueError(f"{self.name}: {value} does not fit in {self.width} bits")
        return (byte & ~self.mask & 0xFF) | (value << self.shift)

    def extract(self, byte: int) -> int:
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

    def full_scales(self) -> tuple[float, ...]:
        return tuple(r.full_scale for r in self.rows)


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


class RegisterIO:
    """Reads and writes fields of one device on one bus (read-modify-write for partial fields)."""

    def __init__(self, bus, address: int):
        self.bus = bus
        self.address = address

    def read(self, reg: int, length: int) -> bytes:
        return self.bus.read(self.address, reg, length)

    def read_u8(self, reg: int) -> int:
        return self.bus.read(self.address, reg, 1)[0]

    def write_u8(self, reg: int, value: int) -> None:
        self.bus.write(self.address, reg, bytes([value & 0xFF]))

    def get(self, field: Field) -> int:
        return field.extract(self.read_u8(field.reg))

    def set(self, field: Field, value: int) -> None:
        if field.width == 8:
            self.write_u8(field.reg, value)
        else:
            self.write_u8(field.reg, field.insert(self.read_u8(field.reg), value))

    def set_many(self, reg: int, values: dict[Field, int], base: int = 0) -> int:
        """Write one register built from ``base`` and several fields at once; returns the byte."""
        byte = base
        for field, value in values.items():
            if field.reg != reg:
                raise ValueError(f"{field.name} is not in register 0x{reg:02X}")
            byte = field.insert(byte, value)
        self.write_u8(reg, byte)
        return byte
