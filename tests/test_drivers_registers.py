"""Register-level driver tests against emulated chips: every field lands on its datasheet bits,
every range scales with the right size and sign, byte order and temperature formulas hold, and
detection names each chip or says clearly what it found."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import Const, rig

from analysis.units import STANDARD_GRAVITY_MPS2 as G
from imu.chips import CHIPS as CHIP_NAMES
from imu.chips import INVENSENSE_CHIPS, ST_CHIPS
from imu.clock import FakeClock
from imu.detect import DRIVERS, detect, scan
from imu.driver import SensorSettings
from imu.emulated import MODELS, make_chip
from imu.emulated.bus import EmulatedBus
from imu.errors import SensorConfigError, SensorNotFound
from imu.registers import Field, Scale, ScaleTable

CHIPS = list(DRIVERS)
MPU = ["mpu6050", "mpu6500", "mpu9250"]
ST = ["lsm6ds3", "lsm6ds3trc", "lsm6dsox"]


# -- declarative helpers -------------------------------------------------------------------------
def test_field_insert_extract_and_mask():
    f = Field("FS", 0x1C, 3, 2)
    assert f.mask == 0b0001_1000
    assert f.insert(0xFF, 0b10) == 0b1111_0111
    assert f.extract(0b0001_0000) == 0b10
    with pytest.raises(ValueError):
        f.insert(0, 4)


def test_scale_tables_are_immutable_and_exact():
    t = ScaleTable("g", (Scale(0, 2, 16384.0),))
    with pytest.raises(Exception):
        t.rows[0].lsb_per_unit = 1.0          # frozen: no shared table can be doubled in place
    with pytest.raises(KeyError, match="choose 2"):
        t.for_full_scale(3)


# -- every configured field on its bits -------------------------------------------------------------
@pytest.mark.parametrize("chip,settings,expected", [
    ("mpu6050", SensorSettings(200, 8, 500, 20),
     {0x6B: 0x01, 0x19: 4, 0x1A: 0x04, 0x1B: 0x08, 0x1C: 0x10, 0x23: 0x78, 0x6A: 0x40}),
    ("mpu6500", SensorSettings(100, 4, 1000, 92),
     {0x6B: 0x01, 0x19: 9, 0x1A: 0x42, 0x1B: 0x10, 0x1C: 0x08, 0x1D: 0x02, 0x23: 0x78, 0x6A: 0x40}),
    ("mpu9250", SensorSettings(500, 2, 250, 184),
     {0x19: 1, 0x1A: 0x41, 0x1B: 0x00, 0x1C: 0x00, 0x1D: 0x01}),
    ("lsm6ds3", SensorSettings(104, 4, 125, 0),
     {0x10: 0x48, 0x11: 0x42, 0x12: 0x44, 0x08: 0x09, 0x0A: 0x26}),
    ("lsm6ds3trc", SensorSettings(416, 16, 2000, 0),
     {0x10: 0x64, 0x11: 0x6C, 0x12: 0x44, 0x08: 0x09, 0x0A: 0x36}),
    ("lsm6dsox", SensorSettings(416, 8, 1000, 0),
     {0x10: 0x6C, 0x11: 0x68, 0x12: 0x44, 0x17: 0x00, 0x09: 0x66, 0x0A: 0x06}),
    ("lsm6dsox", SensorSettings(208, 2, 500, 10.4),      # LPF2 on, ODR/20 -> HPCF_XL 010
     {0x10: 0x52, 0x11: 0x54, 0x17: 0x40}),
])
def test_configuration_bytes_match_datasheet_fields(chip, settings, expected):
    _, _, emu, driver = rig(chip)
    applied = driver.configure(settings)
    got = {reg: emu.regs[reg] for reg in expected}
    assert got == expected, {hex(r): (hex(got[r]), hex(v)) for r, v in expected.items() if got[r] != v}
    assert applied.accel_range_g == settings.accel_range_g
    assert applied.gyro_range_dps == settings.gyro_range_dps


def test_rates_pick_the_nearest_the_chip_has():
    _, _, _, mpu = rig("mpu6050")
    assert mpu.configure(SensorSettings(rate_hz=400)).rate_hz == pytest.approx(1000 / 3)
    _, _, _, st = rig("lsm6dsox")
    assert st.configure(SensorSettings(rate_hz=100)).rate_hz == 104
    assert st.configure(SensorSettings(rate_hz=400)).rate_hz == 416


@pytest.mark.parametrize("chip", ["mpu6050", "lsm6dsox"])
def test_unavailable_range_is_a_clear_error(chip):
    _, _, _, driver = rig(chip)
    with pytest.raises(SensorConfigError, match="accel range: ±3 g is not available"):
        driver.configure(SensorSettings(accel_range_g=3))


# -- scaling and sign, every range, through the FIFO and the output registers -------------------------
def _ranges(chip):
    gyros = (125, 250, 500, 1000, 2000) if chip in ST else (250, 500, 1000, 2000)
    return [(a, g) for a, g in zip((2, 4, 8, 16, 16), gyros)] + [(2, 2000), (16, 250)]


@pytest.mark.parametrize("chip", CHIPS)
def test_scaling_and_sign_for_every_range(chip):
    for accel_g, gyro_dps in _ranges(chip):
        frac = np.array([0.5, -0.25, 0.9])
        clock, _, _, driver = rig(chip, Const(frac * accel_g * G, frac * gyro_dps))
        driver.configure(SensorSettings(200, accel_g, gyro_dps, 42))
        clock.advance(0.1)
        read = driver.read_fifo()
        assert len(read) >= 15, (chip, len(read))
        accel_lsb = accel_g * G / 32768 * 1.01        # one LSB, with the sensitivity rounding
        gyro_lsb = gyro_dps / 32768 * 1.05            # (16.4 LSB/dps for 2000 is not 32768/2000)
        np.testing.assert_allclose(read.accel_mps2, np.tile(frac * accel_g * G, (len(read), 1)),
                                   atol=accel_lsb, err_msg=f"{chip} ±{accel_g} g")
        np.testing.assert_allclose(read.gyro_dps, np.tile(frac * gyro_dps, (len(read), 1)),
                                   atol=gyro_lsb, err_msg=f"{chip} ±{gyro_dps} dps")
        accel, gyro = driver.read_sample()
        np.testing.assert_allclose(accel, frac * accel_g * G, atol=accel_lsb)
        np.testing.assert_allclose(gyro, frac * gyro_dps, atol=gyro_lsb)


@pytest.mark.parametrize("chip", ["mpu6050", "lsm6ds3", "lsm6dsox"])
def test_beyond_full_scale_clips_at_the_rails(chip):
    clock, _, _, driver = rig(chip, Const([3 * G, -3 * G, 0], [300, -300, 0]))
    driver.configure(SensorSettings(100, 2, 250, 42))
    clock.advance(0.1)
    read = driver.read_fifo()
    assert read.accel_mps2[:, 0].max() == pytest.approx(2 * G, rel=0.01)
    assert read.accel_mps2[:, 1].min() == pytest.approx(-2 * G, rel=0.01)
    # the rail is int16 32767 times the sensitivity: 250.1 dps on the MPU, 286.7 on ST's "±250"
    rail_dps = 32767 * driver._gyro_dps_per_lsb
    assert read.gyro_dps[:, 0].max() == pytest.approx(rail_dps) and rail_dps >= 250
    assert read.gyro_dps[:, 1].min() == pytest.approx(-32768 * driver._gyro_dps_per_lsb)


# -- byte order, from hand-made raw bytes (independent of the emulators' encoders) ---------------------
def test_mpu_fifo_frame_is_big_endian_accel_then_gyro():
    _, _, emu, driver = rig("mpu6050")
    driver.configure(SensorSettings(100, 2, 250, 42))
    #   ax = +1 g (16384 = 0x4000), ay = -1 g (0xC000), az = 0.5 g (0x2000)
    #   gx = +131 LSB = 1 dps, gy = -262 = -2 dps, gz = 0x0001
    emu.fifo = bytearray(bytes.fromhex("4000 C000 2000 0083 FEFA 0001".replace(" ", "")))
    read = driver.read_fifo()
    np.testing.assert_allclose(read.accel_mps2, [[G, -G, 0.5 * G]])
    np.testing.assert_allclose(read.gyro_dps, [[1, -2, 1 / 131]])


def test_lsm6ds3_fifo_words_are_little_endian_gyro_then_accel():
    _, _, emu, driver = rig("lsm6ds3")
    driver.configure(SensorSettings(104, 2, 250, 0))
    # Gx = 1000 LSB * 8.75 mdps = 8.75 dps (0x03E8 -> E8 03); Gy = -1 (FF FF); Gz = 0
    # XLx = 16393 * 0.061 mg ~ 1 g (0x4009 -> 09 40); XLy = -16393; XLz = 0
    emu.fifo = bytearray(bytes.fromhex("E803 FFFF 0000 0940 F7BF 0000".replace(" ", "")))
    read = driver.read_fifo()
    np.testing.assert_allclose(read.gyro_dps, [[8.75, -0.00875, 0]])
    np.testing.assert_allclose(read.accel_mps2, [[16393 * 0.061e-3 * G, -16393 * 0.061e-3 * G, 0]])


def test_lsm6dsox_words_are_tagged_and_paired_by_tag_counter():
    _, _, emu, driver = rig("lsm6dsox")
    driver.configure(SensorSettings(104, 16, 2000, 0))
    accel_word = bytes([0x02 << 3 | 1 << 1]) + bytes.fromhex("0100 0200 0300")
    gyro_word = bytes([0x01 << 3 | 1 << 1]) + bytes.fromhex("6400 9CFF 0000")
    temp_word = bytes([0x03 << 3]) + bytes(6)
    emu.fifo = bytearray(accel_word + temp_word + gyro_word)     # accel first, a foreign word between
    read = driver.read_fifo()
    np.testing.assert_allclose(read.accel_mps2, [[0.488e-3 * G * v for v in (1, 2, 3)]])
    np.testing.assert_allclose(read.gyro_dps, [[7.0, -7.0, 0.0]])


@pytest.mark.parametrize("chip,raw,celsius", [
    ("mpu6050", (30 - 36.53) * 340, 30), ("mpu6500", 4 * 333.87, 25), ("lsm6ds3", 16 * 5, 30),
    ("lsm6ds3trc", -256 * 5, 20), ("lsm6dsox", 256 * 10, 35)])
def test_temperature_formulas(chip, raw, celsius):
    _, _, emu, driver = rig(chip, temperature_c=celsius)
    driver.configure(SensorSettings())
    assert emu.temperature_raw() == round(raw)
    assert driver.read_temperature_c() == pytest.approx(celsius, abs=0.01)


# -- detection --------------------------------------------------------------------------------------
def test_one_list_of_chips_names_every_driver_and_emulated_chip():
    assert CHIP_NAMES == tuple(MPU + ST) and (INVENSENSE_CHIPS, ST_CHIPS) == (tuple(MPU), tuple(ST))
    assert tuple(DRIVERS) == CHIP_NAMES and tuple(MODELS) == CHIP_NAMES


@pytest.mark.parametrize("chip", CHIPS)
def test_detect_names_every_chip(chip):
    _, bus, _, _ = rig(chip)
    found = detect(bus)
    assert found.chip == chip and found.address in (0x68, 0x6A)
    assert scan(bus) == [found.address]


def test_detect_on_the_alternate_address():
    clock = FakeClock()
    bus = EmulatedBus(clock)
    bus.attach(0x6B, make_chip("lsm6ds3trc", clock=clock))
    assert detect(bus).address == 0x6B


def test_nothing_matching_lists_what_was_found():
    _, bus, emu, _ = rig("mpu6050")
    emu.stuck_who_am_i = 0x00
    with pytest.raises(SensorNotFound) as e:
        detect(bus)
    text = str(e.value)
    assert "0x68: WHO_AM_I (0x75) = 0x00, is not a supported chip" in text
    assert "0x6A: no answer" in text and "mpu6050 (0x68)" in text
    assert isinstance(e.value, OSError)


def test_wrong_chip_named_in_config_says_which_it_is():
    _, bus, _, _ = rig("mpu6500")
    with pytest.raises(SensorNotFound, match="is a mpu6500, not a mpu9250"):
        detect(bus, chip="mpu9250")
    with pytest.raises(SensorConfigError):
        detect(bus, chip="bmi160")
