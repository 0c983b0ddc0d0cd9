"""Emulated InvenSense MPU-6050, MPU-6500 and MPU-9250 (accel/gyro die): the register subset the
driver uses, addressed through the driver's own register map (imu.mpu6050), so the two cannot
disagree on where a field is. Values stay this module's own copy of the datasheets (WHO_AM_I,
sensitivities, FIFO size, temperature formula), so a wrong driver table fails a test."""
from __future__ import annotations

import numpy as np

from imu.emulated.chip import EmulatedChip
from imu.mpu6050 import (
    ACCEL_CONFIG,
    ACCEL_FIFO_EN,
    ACCEL_OUT,
    AFS_SEL,
    CONFIG,
    DATA_RDY_INT,
    DEVICE_RESET,
    DLPF_CFG,
    FIFO_COUNT_HIGH,
    FIFO_COUNTH,
    FIFO_COUNTL,
    FIFO_EN,
    FIFO_MODE,
    FIFO_OFLOW_INT,
    FIFO_R_W,
    FIFO_RESET,
    FS_SEL,
    GYRO_CONFIG,
    GYRO_OUT,
    INT_STATUS,
    MPU6050,
    MPU6500,
    MPU9250,
    PWR_MGMT_1,
    SIG_COND_RESET,
    SLEEP,
    SMPLRT_DIV,
    TEMP_FIFO_EN,
    USER_CTRL,
    USER_FIFO_EN,
    WHO_AM_I,
    XG_FIFO_EN,
    YG_FIFO_EN,
    ZG_FIFO_EN,
)


class EmulatedMPU6050(EmulatedChip):
    name, who_am_i_reg, fifo_data_reg = MPU6050.name, WHO_AM_I, FIFO_R_W
    who_am_i_value, default_address = 0x68, 0x68
    fifo_bytes = 1024
    can_stop_when_full = False
    ACCEL_LSB_PER_G = {0: 16384, 1: 8192, 2: 4096, 3: 2048}     # AFS_SEL 0..3
    GYRO_LSB_PER_DPS = {0: 131, 1: 65.5, 2: 32.8, 3: 16.4}      # FS_SEL 0..3
    FIRST_OUT, LAST_OUT = ACCEL_OUT.reg, GYRO_OUT.reg + 5        # ACCEL_XOUT_H .. GYRO_ZOUT_L

    def reset_values(self):
        return {PWR_MGMT_1: SLEEP.mask}           # asleep after power-up

    def fifo_capacity_bytes(self):
        return self.fifo_bytes

    def output_rate_hz(self):
        if SLEEP.extract(self.regs[PWR_MGMT_1]):
            return 0.0
        internal = 8000.0 if DLPF_CFG.extract(self.regs[CONFIG]) in (0, 7) else 1000.0
        return internal / (1 + self.regs[SMPLRT_DIV])

    def fifo_enabled(self):
        return bool(USER_FIFO_EN.extract(self.regs[USER_CTRL]))

    def accel_lsb_per_g(self):
        return self.ACCEL_LSB_PER_G[AFS_SEL.extract(self.regs[ACCEL_CONFIG])]

    def gyro_lsb_per_dps(self):
        return self.GYRO_LSB_PER_DPS[FS_SEL.extract(self.regs[GYRO_CONFIG])]

    def temperature_raw(self):
        return int(round((self.temperature_c - 36.53) * 340))

    def frame_bytes(self, a_raw, g_raw) -> tuple[bytes, int]:
        en = self.regs[FIFO_EN]
        cols = []
        if ACCEL_FIFO_EN.extract(en):
            cols += [a_raw[:, 0], a_raw[:, 1], a_raw[:, 2]]
        if TEMP_FIFO_EN.extract(en):
            cols.append(np.full(len(a_raw), self.temperature_raw()))
        for enabled, axis in ((XG_FIFO_EN, 0), (YG_FIFO_EN, 1), (ZG_FIFO_EN, 2)):
            if enabled.extract(en):
                cols.append(g_raw[:, axis])
        if not cols:
            return b"", 0
        return np.stack(cols, axis=1).astype(">i2").tobytes(), 2 * len(cols)

    def push_fifo(self, a_raw, g_raw):
        blob, frame = self.frame_bytes(a_raw, g_raw)
        if not frame:
            return
        stop_when_full = self.can_stop_when_full and FIFO_MODE.extract(self.regs[CONFIG])
        if stop_when_full:
            fit = (self.fifo_bytes - len(self.fifo)) // frame
            if fit * frame < len(blob):
                self.overflowed = True
            self.fifo += blob[:fit * frame]
        else:
            self._append_overwriting(blob, 1)    # oldest BYTES go: frame boundaries are lost

    def read_register(self, reg):
        if self.FIRST_OUT <= reg <= self.LAST_OUT:
            words = list(self.latest_accel_raw) + [self.temperature_raw()] + list(self.latest_gyro_raw)
            word = int(words[(reg - self.FIRST_OUT) // 2]) & 0xFFFF
            return word >> 8 if (reg - self.FIRST_OUT) % 2 == 0 else word & 0xFF
        if reg in (FIFO_COUNTH, FIFO_COUNTL):
            count = min(len(self.fifo), FIFO_COUNT_HIGH.mask << 8 | 0xFF)
            return count >> 8 if reg == FIFO_COUNTH else count & 0xFF
        if reg == INT_STATUS:                    # cleared by the read
            value = FIFO_OFLOW_INT.mask if self.overflowed else 0
            self.overflowed = False
            return value | DATA_RDY_INT.mask
        return self.regs[reg]

    def write_register(self, reg, value):
        if reg == PWR_MGMT_1 and DEVICE_RESET.extract(value):
            self.power_on_reset()
            return
        if reg == USER_CTRL:
            if FIFO_RESET.extract(value):
                self.clear_fifo()
            value &= ~(FIFO_RESET.mask | SIG_COND_RESET.mask)    # both self-clearing
        self.regs[reg] = value


class EmulatedMPU6500(EmulatedMPU6050):
    name, who_am_i_value = MPU6500.name, 0x70
    fifo_bytes = 512
    can_stop_when_full = True

    def temperature_raw(self):
        return int(round((self.temperature_c - 21.0) * 333.87))


class EmulatedMPU9250(EmulatedMPU6500):
    name, who_am_i_value = MPU9250.name, 0x71
