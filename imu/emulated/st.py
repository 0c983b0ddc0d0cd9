"""Emulated ST LSM6DS3, LSM6DS3TR-C and LSM6DSOX: the register subset the drivers use, addressed
through the drivers' own register definitions (imu.lsm6ds), so the two cannot disagree on where a
field is. Values stay this module's own copy of the datasheets (WHO_AM_I, rates, sensitivities,
FIFO sizes, temperature scale), so a wrong driver table fails a test."""
from __future__ import annotations

import numpy as np

from imu.emulated.chip import EmulatedChip
from imu.lsm6ds import (
    ACCEL_OUT,
    CTRL1_XL,
    CTRL2_G,
    CTRL3_C,
    FIFO_BYPASS,
    FIFO_CONTINUOUS,
    FIFO_STATUS1,
    FIFO_STATUS2,
    FS_125,
    FS_G,
    FS_XL,
    IF_INC,
    LSM6DS3,
    LSM6DS3TRC,
    LSM6DSOX,
    ODR_XL,
    OUT_TEMP,
    SW_RESET,
    WHO_AM_I,
)

ST_ODR_HZ = {1: 12.5, 2: 26, 3: 52, 4: 104, 5: 208, 6: 416, 7: 833, 8: 1660}
ST_ACCEL_MG_PER_LSB = {0b00: 0.061, 0b01: 0.488, 0b10: 0.122, 0b11: 0.244}   # FS_XL codes
ST_GYRO_MDPS_PER_LSB = {0b00: 8.75, 0b01: 17.5, 0b10: 35.0, 0b11: 70.0}       # FS_G codes


class _EmulatedST(EmulatedChip):
    who_am_i_reg, default_address = WHO_AM_I, 0x6A
    temp_lsb_per_c = 256.0
    FIRST_OUT, LAST_OUT = OUT_TEMP, ACCEL_OUT.reg + 5            # OUT_TEMP_L .. OUTZ_H_XL

    def reset_values(self):
        return {CTRL3_C: IF_INC.mask}

    def output_rate_hz(self):
        return float(ST_ODR_HZ.get(ODR_XL.extract(self.regs[CTRL1_XL]), 0.0))

    def accel_lsb_per_g(self):
        return 1000.0 / ST_ACCEL_MG_PER_LSB[FS_XL.extract(self.regs[CTRL1_XL])]

    def gyro_lsb_per_dps(self):
        if FS_125.extract(self.regs[CTRL2_G]):
            return 1000.0 / 4.375
        return 1000.0 / ST_GYRO_MDPS_PER_LSB[FS_G.extract(self.regs[CTRL2_G])]

    def temperature_raw(self):
        return int(round((self.temperature_c - 25.0) * self.temp_lsb_per_c))

    def read_register(self, reg):
        if self.FIRST_OUT <= reg <= self.LAST_OUT:
            words = [self.temperature_raw()] + list(self.latest_gyro_raw) + list(self.latest_accel_raw)
            word = int(words[(reg - self.FIRST_OUT) // 2]) & 0xFFFF
            return word & 0xFF if (reg - self.FIRST_OUT) % 2 == 0 else word >> 8
        return self.status_register(reg)

    def status_register(self, reg):
        return self.regs[reg]

    def write_register(self, reg, value):
        if reg == CTRL3_C and SW_RESET.extract(value):   # registers to defaults, self-clearing
            self.power_on_reset()
            return
        self.regs[reg] = value


class EmulatedLSM6DS3(_EmulatedST):
    driver = LSM6DS3                             # its own FIFO registers
    name, who_am_i_value, fifo_data_reg = LSM6DS3.name, 0x69, LSM6DS3.FIFO_DATA_OUT_L
    fifo_words = 4096
    temp_lsb_per_c = 16.0

    def fifo_capacity_bytes(self):
        return 2 * self.fifo_words

    def fifo_enabled(self):
        c, ctrl3 = self.driver, self.regs[self.driver.FIFO_CTRL3]
        return (c.FIFO_MODE.extract(self.regs[c.FIFO_CTRL5]) == FIFO_CONTINUOUS
                and c.DEC_FIFO_GYRO.extract(ctrl3) == 1 and c.DEC_FIFO_XL.extract(ctrl3) == 1)

    def push_fifo(self, a_raw, g_raw):
        words = np.concatenate([g_raw, a_raw], axis=1)          # Gx Gy Gz XLx XLy XLz
        self._append_overwriting(words.astype("<i2").tobytes(), 2)

    def next_address(self, reg):
        return self.driver.FIFO_DATA_OUT_L if reg == self.driver.FIFO_DATA_OUT_H else (reg + 1) & 0xFF

    def status_register(self, reg):
        c, words = self.driver, len(self.fifo) // 2
        if reg == FIFO_STATUS1:
            return words & 0xFF
        if reg == FIFO_STATUS2:
            full = len(self.fifo) + 12 > self.fifo_capacity_bytes()
            return ((c.OVER_RUN.mask if self.overflowed else 0) | (c.FIFO_FULL.mask if full else 0)
                    | (c.FIFO_EMPTY.mask if not words else 0) | (words >> 8) & c.DIFF_FIFO_HIGH.mask)
        if reg in (c.FIFO_STATUS3, c.FIFO_STATUS4):
            pattern = (self.fifo_removed_bytes // 2) % 6
            return pattern & 0xFF if reg == c.FIFO_STATUS3 else pattern >> 8
        if reg == c.FIFO_DATA_OUT_L and self.fifo:   # byte-wise access (bursts take the fast path)
            return self.fifo[0]
        if reg == c.FIFO_DATA_OUT_H and self.fifo:
            return self.pop_fifo(2)[1]
        return self.regs[reg]

    def write_register(self, reg, value):
        super().write_register(reg, value)
        if reg == self.driver.FIFO_CTRL5 and self.driver.FIFO_MODE.extract(value) == FIFO_BYPASS:
            self.clear_fifo()                    # bypass mode empties the FIFO


class EmulatedLSM6DS3TRC(EmulatedLSM6DS3):
    driver = LSM6DS3TRC
    name, who_am_i_value = LSM6DS3TRC.name, 0x6A
    fifo_words = 2048
    temp_lsb_per_c = 256.0


class EmulatedLSM6DSOX(_EmulatedST):
    driver = LSM6DSOX
    name, who_am_i_value, fifo_data_reg = LSM6DSOX.name, 0x6C, LSM6DSOX.FIFO_DATA_OUT_TAG
    fifo_words = 512

    def power_on_reset(self):
        super().power_on_reset()
        self.slot = 0

    def fifo_capacity_bytes(self):
        return 7 * self.fifo_words

    def fifo_enabled(self):
        c = self.driver
        return (c.FIFO_MODE.extract(self.regs[c.FIFO_CTRL4]) == FIFO_CONTINUOUS
                and self.regs[c.FIFO_CTRL3] != 0)

    def push_fifo(self, a_raw, g_raw):
        c, n = self.driver, len(a_raw)
        cnt = (self.slot + np.arange(n)) & 3
        self.slot = (self.slot + n) & 3
        words = np.zeros((n, 2, 7), np.uint8)
        words[:, 0, 0] = (c.TAG_GYRO << c.TAG_SENSOR.shift) | (cnt << c.TAG_CNT.shift)
        words[:, 1, 0] = (c.TAG_ACCEL << c.TAG_SENSOR.shift) | (cnt << c.TAG_CNT.shift)
        words[:, 0, 1:] = g_raw.astype("<i2").view(np.uint8).reshape(n, 6)
        words[:, 1, 1:] = a_raw.astype("<i2").view(np.uint8).reshape(n, 6)
        self._append_overwriting(words.tobytes(), 7)

    def next_address(self, reg):
        return self.driver.FIFO_DATA_OUT_TAG if reg == self.driver.FIFO_DATA_OUT_Z_H else (reg + 1) & 0xFF

    def status_register(self, reg):
        c, words = self.driver, len(self.fifo) // 7
        if reg == FIFO_STATUS1:
            return words & 0xFF
        if reg == FIFO_STATUS2:
            full = len(self.fifo) + 14 > self.fifo_capacity_bytes()
            return ((c.FIFO_OVR_IA.mask if self.overflowed else 0) | (c.FIFO_FULL_IA.mask if full else 0)
                    | (words >> 8) & c.DIFF_FIFO_HIGH.mask)
        return self.regs[reg]

    def write_register(self, reg, value):
        super().write_register(reg, value)
        if reg == self.driver.FIFO_CTRL4 and self.driver.FIFO_MODE.extract(value) == FIFO_BYPASS:
            self.clear_fifo()
