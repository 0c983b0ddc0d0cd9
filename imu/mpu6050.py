"""InvenSense MPU-6050 and MPU-6500 (the MPU-9250's accel/gyro die answers as the latter).

Sources: [RM6050] MPU-6000/6050 Register Map and Descriptions RM-MPU-6000A-00 rev 4.2;
[PS6050] Product Specification PS-MPU-6000A-00 rev 3.4; [RM6500] MPU-6500 Register Map
RM-MPU-6500A-00 rev 2.1; [PS6500] PS-MPU-6500A-01 rev 1.1; [RM9250] RM-MPU-9250A-00 rev 1.4.
Register numbers (decimal, as the register maps head them) are given next to each field;
docs/sensors.md repeats them in one place.
"""
from __future__ import annotations

import numpy as np

from imu.driver import Applied, FifoStatus, ImuDriver, SensorSettings
from imu.registers import Code, Field, Register, Scale, ScaleTable, Vector3, bit, nearest

# -- register map [RM6050 register map table], shared by the MPU-6500 [RM6500 table] and by the
#    emulated chips (imu.emulated.invensense) ---------------------------------------------------------
SMPLRT_DIV = Register("SMPLRT_DIV", 0x19)          # rate = internal rate / (1 + SMPLRT_DIV) [RM6050 reg 25]
DIVIDER = Field("SMPLRT_DIV", SMPLRT_DIV)           # SMPLRT_DIV[7:0]
CONFIG = Register("CONFIG", 0x1A)
DLPF_CFG = Field("DLPF_CFG", CONFIG, 0, 3)          # [RM6050 reg 26]
FIFO_MODE = bit("FIFO_MODE", CONFIG, 6)             # 6500 only: 1 = drop new data when full [RM6500 reg 26]
GYRO_CONFIG = Register("GYRO_CONFIG", 0x1B)
FS_SEL = Field("FS_SEL", GYRO_CONFIG, 3, 2)         # [RM6050 reg 27]
ACCEL_CONFIG = Register("ACCEL_CONFIG", 0x1C)
AFS_SEL = Field("AFS_SEL", ACCEL_CONFIG, 3, 2)       # [RM6050 reg 28]
ACCEL_CONFIG2 = Register("ACCEL_CONFIG2", 0x1D)
A_DLPF_CFG = Field("A_DLPF_CFG", ACCEL_CONFIG2, 0, 3)  # 6500 only [RM6500 reg 29]
FIFO_EN = Register("FIFO_EN", 0x23)                 # [RM6050 reg 35]
TEMP_FIFO_EN = bit("TEMP_FIFO_EN", FIFO_EN, 7)
XG_FIFO_EN, YG_FIFO_EN, ZG_FIFO_EN = (bit("XG_FIFO_EN", FIFO_EN, 6), bit("YG_FIFO_EN", FIFO_EN, 5),
                                      bit("ZG_FIFO_EN", FIFO_EN, 4))
ACCEL_FIFO_EN = bit("ACCEL_FIFO_EN", FIFO_EN, 3)
INT_STATUS = Register("INT_STATUS", 0x3A)           # cleared by reading [RM6050 reg 58]
FIFO_OFLOW_INT = bit("FIFO_OFLOW_INT", INT_STATUS, 4)
DATA_RDY_INT = bit("DATA_RDY_INT", INT_STATUS, 0)
ACCEL_OUT = Vector3("ACCEL_XOUT", 0x3B, ">")        # big endian, high byte first [RM6050 regs 59-64]
TEMP_OUT = Register("TEMP_OUT_H", 0x41)             # [RM6050 regs 65-66]
GYRO_OUT = Vector3("GYRO_XOUT", 0x43, ">")          # [RM6050 regs 67-72]
USER_CTRL = Register("USER_CTRL", 0x6A)             # [RM6050 reg 106]
USER_FIFO_EN = bit("FIFO_EN", USER_CTRL, 6)
FIFO_RESET = bit("FIFO_RESET", USER_CTRL, 2)        # self-clearing, as SIG_COND_RESET
SIG_COND_RESET = bit("SIG_COND_RESET", USER_CTRL, 0)
PWR_MGMT_1 = Register("PWR_MGMT_1", 0x6B)           # [RM6050 reg 107]; 0x40 (asleep) after power-up
DEVICE_RESET = bit("DEVICE_RESET", PWR_MGMT_1, 7)
SLEEP = bit("SLEEP", PWR_MGMT_1, 6)
CLKSEL = Field("CLKSEL", PWR_MGMT_1, 0, 3)          # 1 = PLL on the X gyro (recommended in [RM6050 reg 107])
FIFO_COUNTH = Register("FIFO_COUNTH", 0x72)         # bytes in FIFO, big endian [RM6050 regs 114-115]
FIFO_COUNTL = Register("FIFO_COUNTL", 0x73)
FIFO_COUNT_HIGH = Field("FIFO_COUNT", FIFO_COUNTH, 0, 5)   # FIFO_COUNT[12:8] ([RM6500]; 1024 B need 11)
FIFO_R_W = Register("FIFO_R_W", 0x74)               # burst reads pop successive FIFO bytes [RM6050 reg 116]
WHO_AM_I = Register("WHO_AM_I", 0x75)               # [RM6050 reg 117]

# -- full-scale tables: code, range, LSB per unit
#    [PS6050 and PS6500, 'Gyroscope Specifications' and 'Accelerometer Specifications' tables] ------
GYRO_SCALES = ScaleTable("dps", (Scale(0, 250, 131.0), Scale(1, 500, 65.5),
                                 Scale(2, 1000, 32.8), Scale(3, 2000, 16.4)))
ACCEL_SCALES = ScaleTable("g", (Scale(0, 2, 16384.0), Scale(1, 4, 8192.0),
                                Scale(2, 8, 4096.0), Scale(3, 16, 2048.0)))

# FIFO frame with ACCEL and the three gyro axes enabled: registers are written in register order,
# 0x3B..0x40 then 0x43..0x48, so ax ay az gx gy gz, each int16 big endian [RM6050 reg 35, reg 116].
FRAME_DTYPE = np.dtype(">i2")
FRAME_BYTES = 12
INTERNAL_RATE_HZ = 1000.0   # gyro output rate with the DLPF enabled (DLPF_CFG 1..6) [RM6050 reg 25]


class MPU6050(ImuDriver):
    name = "mpu6050"
    who_am_i_reg = WHO_AM_I
    who_am_i_value = 0x68                # [RM6050 reg 117]
    fifo_data_reg = FIFO_R_W
    fifo_bytes = 1024                    # [PS6050 'FIFO' section: 1024-byte FIFO]
    # DLPF_CFG 1..6, gyro bandwidth in Hz [RM6050 reg 26]; 0 and 7 switch to an 8 kHz rate, not used.
    dlpf_table = (Code(1, 188), Code(2, 98), Code(3, 42), Code(4, 20), Code(5, 10), Code(6, 5))
    temp_lsb_per_c, temp_offset_c = 340.0, 36.53   # T = TEMP_OUT/340 + 36.53 [RM6050 regs 65-66]

    @property
    def frame_bytes(self) -> int:
        return FRAME_BYTES

    @property
    def fifo_capacity_samples(self) -> int:
        return self.fifo_bytes // FRAME_BYTES

    @staticmethod
    def rate_for(rate_hz: float) -> tuple[int, float]:
        """SMPLRT_DIV giving the rate nearest ``rate_hz`` (1 kHz / (1 + div), div 0..255)."""
        div = min(range(256), key=lambda d: abs(np.log(INTERNAL_RATE_HZ / (1 + d) / rate_hz)))
        return div, INTERNAL_RATE_HZ / (1 + div)

    def _config_fields(self, dlpf_code: int) -> dict[Field, int]:
        return {DLPF_CFG: dlpf_code}

    def _extra_config(self, settings: SensorSettings) -> tuple[dict[Field, int], ...]:
        return ()

    def configure(self, settings: SensorSettings) -> Applied:
        gyro = self._lookup(GYRO_SCALES, settings.gyro_range_dps, "gyro range")
        accel = self._lookup(ACCEL_SCALES, settings.accel_range_g, "accel range")
        div, rate_hz = self.rate_for(settings.rate_hz)
        dlpf = nearest(self.dlpf_table, settings.dlpf_hz) if settings.dlpf_hz > 0 else self.dlpf_table[0]
        self.io.write_fields({DEVICE_RESET: 1})
        self.sleep(0.1)                  # reset takes up to 100 ms [RM6050 reg 107 / reset note]
        regs = self.io.write_fields(
            {CLKSEL: 1},                 # awake, PLL clock
            {DIVIDER: div},
            self._config_fields(dlpf.code),
            {FS_SEL: gyro.code},
            {AFS_SEL: accel.code},
            *self._extra_config(settings),
            {ACCEL_FIFO_EN: 1, XG_FIFO_EN: 1, YG_FIFO_EN: 1, ZG_FIFO_EN: 1})
        self.verify(regs)
        self._set_scales(accel.lsb_per_unit, gyro.lsb_per_unit)
        self.reset_fifo()
        self.applied = Applied(self.name, self.address, rate_hz, accel.full_scale, gyro.full_scale,
                               float(dlpf.hz), FRAME_BYTES, self.fifo_capacity_samples,
                               {r.name: v for r, v in regs.items()})
        return self.applied

    def reset_fifo(self) -> None:
        """Stop, clear and restart the FIFO (FIFO_RESET self-clears) [RM6050 reg 106]."""
        self.io.write_fields({FIFO_RESET: 1})
        self.io.write_fields({USER_FIFO_EN: 1})

    def fifo_status(self) -> FifoStatus:
        high, low = self.io.read(FIFO_COUNTH, 2)
        count = FIFO_COUNT_HIGH.extract(high) << 8 | low
        # Full (or within a frame of full) means frames were lost or are about to be; on the 6050
        # the FIFO then overwrites its oldest bytes and 1024 is no multiple of 12, so frame
        # boundaries are gone too. Either way: reset and mark a gap.
        if count > self.fifo_bytes - FRAME_BYTES:
            return FifoStatus(0, overflow=True)
        if count % FRAME_BYTES:
            return FifoStatus(0, misaligned=True)
        return FifoStatus(count // FRAME_BYTES)

    def decode_frames(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        words = np.frombuffer(data, dtype=FRAME_DTYPE).reshape(-1, 6).astype(np.int64)
        return words[:, 0:3], words[:, 3:6]

    def read_sample(self) -> tuple[np.ndarray, np.ndarray]:
        data = self.io.read(ACCEL_OUT.reg, 14)           # accel, temp, gyro in one burst
        accel, gyro = self.scale(ACCEL_OUT.decode(data[0:6]), GYRO_OUT.decode(data[8:14]))
        return accel, gyro

    def read_temperature_c(self) -> float:
        raw = int.from_bytes(self.io.read(TEMP_OUT, 2), "big", signed=True)
        return raw / self.temp_lsb_per_c + self.temp_offset_c


class MPU6500(MPU6050):
    name = "mpu6500"
    who_am_i_value = 0x70                # [RM6500 reg 117]
    fifo_bytes = 512                     # [PS6500 features: 512-byte FIFO]
    # DLPF_CFG 1..6 with FCHOICE_B = 00, gyro bandwidth in Hz [RM6500 reg 26 table]
    dlpf_table = (Code(1, 184), Code(2, 92), Code(3, 41), Code(4, 20), Code(5, 10), Code(6, 5))
    # A_DLPF_CFG 1..6 with ACCEL_FCHOICE_B = 0, accel bandwidth in Hz [RM6500 reg 29 table]
    accel_dlpf_table = (Code(1, 218.1), Code(2, 99), Code(3, 44.8), Code(4, 21.2), Code(5, 10.2),
                        Code(6, 5.05))
    # T = (TEMP_OUT - RoomTemp_Offset)/333.87 + 21, offset 0 LSB at 21 °C
    # [RM6500 regs 65-66; PS6500 'Temperature Sensor' table]
    temp_lsb_per_c, temp_offset_c = 333.87, 21.0

    def _config_fields(self, dlpf_code: int) -> dict[Field, int]:
        # FIFO_MODE = 1: a full FIFO keeps its frames instead of overwriting the oldest bytes.
        return {DLPF_CFG: dlpf_code, FIFO_MODE: 1}

    def _extra_config(self, settings: SensorSettings) -> tuple[dict[Field, int], ...]:
        hz = settings.dlpf_hz if settings.dlpf_hz > 0 else self.accel_dlpf_table[0].hz
        return ({A_DLPF_CFG: nearest(self.accel_dlpf_table, hz).code},)


class MPU9250(MPU6500):
    """The MPU-9250 is an MPU-6500 plus an AK8963 magnetometer; only accel/gyro are used here."""

    name = "mpu9250"
    who_am_i_value = 0x71                # [RM9250 reg 117]
