"""ST LSM6DS3, LSM6DS3TR-C and LSM6DSOX.

Sources: [DS3] LSM6DS3 datasheet DocID026899 rev 10; [DS3TRC] LSM6DS3TR-C datasheet DS11993 rev 3
(with AN5130); [DSOX] LSM6DSOX datasheet DS12814 rev 3 (with AN5272). Register names and bit
positions below are those of the register description chapters; docs/sensors.md has the tables.
"""
from __future__ import annotations

import numpy as np

from imu.driver import Applied, FifoStatus, ImuDriver, SensorSettings
from imu.registers import Code, Field, Register, Scale, ScaleTable, Vector3, bit, nearest

# -- registers common to the three chips, shared with the emulated chips (imu.emulated.st) -------
WHO_AM_I = Register("WHO_AM_I", 0x0F)
CTRL1_XL = Register("CTRL1_XL", 0x10)
ODR_XL = Field("ODR_XL", CTRL1_XL, 4, 4)
FS_XL = Field("FS_XL", CTRL1_XL, 2, 2)
LPF2_XL_EN = bit("LPF2_XL_EN", CTRL1_XL, 1)         # DSOX only [DSOX CTRL1_XL]
CTRL2_G = Register("CTRL2_G", 0x11)
ODR_G = Field("ODR_G", CTRL2_G, 4, 4)
FS_G = Field("FS_G", CTRL2_G, 2, 2)
FS_125 = bit("FS_125", CTRL2_G, 1)
CTRL3_C = Register("CTRL3_C", 0x12)
BDU = bit("BDU", CTRL3_C, 6)                         # output registers not updated mid-read
IF_INC = bit("IF_INC", CTRL3_C, 2)                   # address auto-increment on bursts (default 1)
SW_RESET = bit("SW_RESET", CTRL3_C, 0)               # self-clearing
CTRL8_XL = Register("CTRL8_XL", 0x17)
HPCF_XL = Field("HPCF_XL", CTRL8_XL, 5, 3)           # DSOX: LPF2 corner ODR/N [DSOX CTRL8_XL table]
OUT_TEMP = Register("OUT_TEMP_L", 0x20)              # int16 little endian, 0 LSB = 25 °C
GYRO_OUT = Vector3("OUTX_G", 0x22, "<")              # OUTX_L_G first: little endian
ACCEL_OUT = Vector3("OUTX_XL", 0x28, "<")
FIFO_STATUS1 = Register("FIFO_STATUS1", 0x3A)        # DIFF_FIFO[7:0]
FIFO_STATUS2 = Register("FIFO_STATUS2", 0x3B)        # flags and the top bits of DIFF_FIFO

# -- full-scale tables: code, range, LSB per unit ('Mechanical characteristics' table of [DS3],
#    [DS3TRC], [DSOX]:
#    0.061/0.122/0.244/0.488 mg/LSB and 4.375/8.75/17.50/35/70 mdps/LSB). FS_XL codes are not in
#    order of range: 00 ±2 g, 01 ±16 g, 10 ±4 g, 11 ±8 g. FS_125 (bit 1) selects ±125 dps. -----------
ACCEL_SCALES = ScaleTable("g", (Scale(0b00, 2, 1000 / 0.061), Scale(0b10, 4, 1000 / 0.122),
                                Scale(0b11, 8, 1000 / 0.244), Scale(0b01, 16, 1000 / 0.488)))
GYRO_SCALES = ScaleTable("dps", (Scale(-1, 125, 1000 / 4.375), Scale(0b00, 250, 1000 / 8.75),
                                 Scale(0b01, 500, 1000 / 17.5), Scale(0b10, 1000, 1000 / 35.0),
                                 Scale(0b11, 2000, 1000 / 70.0)))
# ODR_XL / ODR_G / ODR_FIFO / BDR codes, high-performance mode (ODR table under CTRL1_XL in
# [DS3], [DS3TRC], [DSOX]).
ODR_TABLE = (Code(0b0001, 12.5), Code(0b0010, 26), Code(0b0011, 52), Code(0b0100, 104),
             Code(0b0101, 208), Code(0b0110, 416), Code(0b0111, 833))
FIFO_BYPASS, FIFO_CONTINUOUS = 0b000, 0b110          # FIFO_MODE codes, same on all three


class _LSM6DS(ImuDriver):
    """What the three share: the reset, the ODR and range fields, BDU, the output registers. Each
    chip adds its filter and FIFO registers."""

    who_am_i_reg = WHO_AM_I
    temp_lsb_per_c: float                             # set by each chip

    @property
    def sample_bytes(self) -> int:
        """FIFO bytes per (accel, gyro) sample."""
        return self.frame_bytes

    def _filter_config(self, odr: Code, settings: SensorSettings) -> tuple[dict, tuple, float | None]:
        """(extra CTRL1_XL fields, filter registers' fields, the corner in Hz; None: chip default)."""
        return {}, (), None        # left at the chip's ODR-dependent default anti-alias filter

    def _fifo_config(self, odr: Code) -> tuple[dict[Field, int], ...]:
        raise NotImplementedError

    def configure(self, settings: SensorSettings) -> Applied:
        accel = self._lookup(ACCEL_SCALES, settings.accel_range_g, "accel range")
        gyro = self._lookup(GYRO_SCALES, settings.gyro_range_dps, "gyro range")
        odr = nearest(ODR_TABLE, settings.rate_hz)
        self.io.write_fields({IF_INC: 1, SW_RESET: 1})
        self.sleep(0.01)
        ctrl1_extra, filters, dlpf_hz = self._filter_config(odr, settings)
        gyro_range = {FS_125: 1} if gyro.code < 0 else {FS_G: gyro.code}
        regs = self.io.write_fields({IF_INC: 1, BDU: 1},
                                    {ODR_XL: odr.code, FS_XL: accel.code, **ctrl1_extra},
                                    {ODR_G: odr.code, **gyro_range},
                                    *filters, *self._fifo_config(odr))
        self.verify(regs)
        self._odr = odr
        self._set_scales(accel.lsb_per_unit, gyro.lsb_per_unit)
        self.applied = Applied(self.name, self.address, odr.hz, accel.full_scale, gyro.full_scale,
                               dlpf_hz, self.sample_bytes, self.fifo_capacity_samples,
                               {r.name: v for r, v in regs.items()})
        return self.applied

    def read_sample(self) -> tuple[np.ndarray, np.ndarray]:
        data = self.io.read(GYRO_OUT.reg, 12)           # OUTX_L_G .. OUTZ_H_XL in one burst
        return self.scale(ACCEL_OUT.decode(data[6:12]), GYRO_OUT.decode(data[0:6]))

    def read_temperature_c(self) -> float:
        raw = int.from_bytes(self.io.read(OUT_TEMP, 2), "little", signed=True)
        return raw / self.temp_lsb_per_c + 25.0


class LSM6DS3(_LSM6DS):
    """FIFO of untagged 16-bit words in a fixed pattern: Gx Gy Gz XLx XLy XLz when both sensors are
    batched undecimated ([DS3] FIFO chapter: first data set gyro, second accel). FIFO_PATTERN tells
    which word comes next, so a stream that lost its place can skip to the next Gx."""

    name = "lsm6ds3"
    who_am_i_value = 0x69                             # [DS3] WHO_AM_I
    fifo_words = 4096                                 # 8 kbyte FIFO [DS3] features list
    temp_lsb_per_c = 16.0                             # [DS3] 'Temperature sensor characteristics' table
    FIFO_CTRL3 = Register("FIFO_CTRL3", 0x08)
    DEC_FIFO_GYRO = Field("DEC_FIFO_GYRO", FIFO_CTRL3, 3, 3)
    DEC_FIFO_XL = Field("DEC_FIFO_XL", FIFO_CTRL3, 0, 3)
    FIFO_CTRL5 = Register("FIFO_CTRL5", 0x0A)
    ODR_FIFO = Field("ODR_FIFO", FIFO_CTRL5, 3, 4)
    FIFO_MODE = Field("FIFO_MODE", FIFO_CTRL5, 0, 3)
    OVER_RUN = bit("OVER_RUN", FIFO_STATUS2, 6)
    FIFO_FULL = bit("FIFO_FULL", FIFO_STATUS2, 5)
    FIFO_EMPTY = bit("FIFO_EMPTY", FIFO_STATUS2, 4)
    DIFF_FIFO_HIGH = Field("DIFF_FIFO", FIFO_STATUS2, 0, 4)     # DIFF_FIFO[11:8]
    FIFO_STATUS3 = Register("FIFO_STATUS3", 0x3C)               # FIFO_PATTERN[7:0]
    FIFO_STATUS4 = Register("FIFO_STATUS4", 0x3D)
    FIFO_PATTERN_HIGH = Field("FIFO_PATTERN", FIFO_STATUS4, 0, 2)  # FIFO_PATTERN[9:8]
    FIFO_DATA_OUT_L = Register("FIFO_DATA_OUT_L", 0x3E)
    FIFO_DATA_OUT_H = Register("FIFO_DATA_OUT_H", 0x3F)        # bursts wrap 3Fh -> 3Eh
    fifo_data_reg = FIFO_DATA_OUT_L
    WORDS_PER_FRAME = 6

    @property
    def frame_bytes(self) -> int:
        return 2 * self.WORDS_PER_FRAME

    @property
    def fifo_capacity_samples(self) -> int:
        return self.fifo_words // self.WORDS_PER_FRAME

    def _fifo_config(self, odr: Code) -> tuple[dict[Field, int], ...]:
        return ({self.DEC_FIFO_GYRO: 0b001, self.DEC_FIFO_XL: 0b001},     # no decimation
                self._fifo_ctrl(odr, FIFO_CONTINUOUS))

    def _fifo_ctrl(self, odr: Code, mode: int) -> dict[Field, int]:
        return {self.ODR_FIFO: odr.code, self.FIFO_MODE: mode}

    def reset_fifo(self) -> None:
        """Bypass mode empties the FIFO; continuous mode starts it again ([DS3] FIFO modes)."""
        self.io.write_fields(self._fifo_ctrl(self._odr, FIFO_BYPASS))
        self.io.write_fields(self._fifo_ctrl(self._odr, FIFO_CONTINUOUS))

    def fifo_status(self) -> FifoStatus:
        s = self.io.read(FIFO_STATUS1, 4)                # STATUS1..4: level, flags, pattern
        words = s[0] | self.DIFF_FIFO_HIGH.extract(s[1]) << 8
        if self.OVER_RUN.extract(s[1]) or self.FIFO_FULL.extract(s[1]):
            return FifoStatus(0, overflow=True)
        pattern = s[2] | self.FIFO_PATTERN_HIGH.extract(s[3]) << 8   # index of the next word, 0 = Gx
        skip_words = (self.WORDS_PER_FRAME - pattern) % self.WORDS_PER_FRAME
        if skip_words > words:
            return FifoStatus(0)
        return FifoStatus((words - skip_words) // self.WORDS_PER_FRAME, skip_bytes=2 * skip_words)

    def decode_frames(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        words = np.frombuffer(data, dtype="<i2").reshape(-1, 6).astype(np.int64)
        return words[:, 3:6], words[:, 0:3]


class LSM6DS3TRC(LSM6DS3):
    name = "lsm6ds3trc"
    who_am_i_value = 0x6A                             # [DS3TRC] WHO_AM_I
    fifo_words = 2048                                 # 4 kbyte FIFO [DS3TRC] features list
    DIFF_FIFO_HIGH = Field("DIFF_FIFO", FIFO_STATUS2, 0, 3)     # DIFF_FIFO[10:8]
    temp_lsb_per_c = 256.0                            # [DS3TRC] 'Temperature sensor characteristics' table


# LSM6DSOX accel LPF2 corner as ODR/N, HPCF_XL code with LPF2_XL_EN = 1
# ([DSOX] CTRL8_XL: accelerometer bandwidth table).
DSOX_LPF2 = ((0b000, 4), (0b001, 10), (0b010, 20), (0b011, 45), (0b100, 100), (0b101, 200),
             (0b110, 400), (0b111, 800))


class LSM6DSOX(_LSM6DS):
    """Tagged FIFO: each 7-byte word is a TAG byte (sensor in bits 7:3, 2-bit time-slot counter in
    bits 2:1) and three little-endian int16 ([DSOX] 'FIFO reading procedure'). Gyro and accel
    words of one time slot share TAG_CNT; they are paired by tag, not by position."""

    name = "lsm6dsox"
    who_am_i_value = 0x6C                             # [DSOX] WHO_AM_I
    fifo_words = 512                                  # 3 kbyte = 512 words of 6 data bytes
    temp_lsb_per_c = 256.0                            # [DSOX] 'Temperature sensor characteristics' table
    FIFO_CTRL3 = Register("FIFO_CTRL3", 0x09)
    BDR_GY = Field("BDR_GY", FIFO_CTRL3, 4, 4)
    BDR_XL = Field("BDR_XL", FIFO_CTRL3, 0, 4)
    FIFO_CTRL4 = Register("FIFO_CTRL4", 0x0A)
    FIFO_MODE = Field("FIFO_MODE", FIFO_CTRL4, 0, 3)
    FIFO_OVR_IA = bit("FIFO_OVR_IA", FIFO_STATUS2, 6)
    FIFO_FULL_IA = bit("FIFO_FULL_IA", FIFO_STATUS2, 5)
    DIFF_FIFO_HIGH = Field("DIFF_FIFO", FIFO_STATUS2, 0, 2)     # DIFF_FIFO[9:8]
    FIFO_DATA_OUT_TAG = Register("FIFO_DATA_OUT_TAG", 0x78)
    FIFO_DATA_OUT_Z_H = Register("FIFO_DATA_OUT_Z_H", 0x7E)    # bursts wrap 7Eh -> 78h
    TAG_SENSOR = Field("TAG_SENSOR", FIFO_DATA_OUT_TAG, 3, 5)
    TAG_CNT = Field("TAG_CNT", FIFO_DATA_OUT_TAG, 1, 2)
    TAG_GYRO, TAG_ACCEL = 0x01, 0x02                  # [DSOX] FIFO tag table
    fifo_data_reg = FIFO_DATA_OUT_TAG
    WORD_BYTES = 7

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending: dict[int, np.ndarray] = {}
        self._pending_cnt: int | None = None

    @property
    def frame_bytes(self) -> int:
        return self.WORD_BYTES           # the FIFO's unit is one tagged word; a sample is two

    @property
    def sample_bytes(self) -> int:
        return 2 * self.WORD_BYTES

    @property
    def fifo_capacity_samples(self) -> int:
        return self.fifo_words // 2

    def _filter_config(self, odr: Code, settings: SensorSettings) -> tuple[dict, tuple, float]:
        ctrl1_extra, hpcf, dlpf_hz = {}, 0, odr.hz / 2                # LPF1 only: ODR/2
        if settings.dlpf_hz > 0:
            options = [(None, odr.hz / 2)] + [(c, odr.hz / n) for c, n in DSOX_LPF2]
            code, dlpf_hz = min(options, key=lambda o: abs(np.log(o[1] / settings.dlpf_hz)))
            if code is not None:
                ctrl1_extra, hpcf = {LPF2_XL_EN: 1}, code
        return ctrl1_extra, ({HPCF_XL: hpcf},), float(dlpf_hz)

    def _fifo_config(self, odr: Code) -> tuple[dict[Field, int], ...]:
        return {self.BDR_GY: odr.code, self.BDR_XL: odr.code}, {self.FIFO_MODE: FIFO_CONTINUOUS}

    def configure(self, settings: SensorSettings) -> Applied:
        applied = super().configure(settings)
        self._pending, self._pending_cnt = {}, None
        return applied

    def reset_fifo(self) -> None:
        self.io.write_fields({self.FIFO_MODE: FIFO_BYPASS})
        self.io.write_fields({self.FIFO_MODE: FIFO_CONTINUOUS})
        self._pending, self._pending_cnt = {}, None

    def fifo_status(self) -> FifoStatus:
        s = self.io.read(FIFO_STATUS1, 2)
        words = s[0] | self.DIFF_FIFO_HIGH.extract(s[1]) << 8      # DIFF_FIFO[9:0], in words
        if self.FIFO_OVR_IA.extract(s[1]) or self.FIFO_FULL_IA.extract(s[1]):
            return FifoStatus(0, overflow=True)
        return FifoStatus(words)

    def decode_frames(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, self.WORD_BYTES)
        values = raw[:, 1:].copy().view("<i2").astype(np.int64)      # (n, 3)
        sensors = self.TAG_SENSOR.extract(raw[:, 0]).tolist()
        counters = self.TAG_CNT.extract(raw[:, 0]).tolist()
        accel, gyro = [], []
        for sensor, cnt, vec in zip(sensors, counters, values):
            if sensor not in (self.TAG_GYRO, self.TAG_ACCEL):
                continue                                  # timestamp, temperature, config words
            if cnt != self._pending_cnt:
                self._pending, self._pending_cnt = {}, cnt
            self._pending[sensor] = vec
            if len(self._pending) == 2:
                accel.append(self._pending[self.TAG_ACCEL])
                gyro.append(self._pending[self.TAG_GYRO])
                self._pending, self._pending_cnt = {}, None
        if not accel:
            return np.empty((0, 3), np.int64), np.empty((0, 3), np.int64)
        return np.array(accel), np.array(gyro)
