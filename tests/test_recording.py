"""Session samples CSV v1: round trip, metadata, bad rows by line, crash-truncated last line."""
import csv

import numpy as np
import pytest

from analysis.errors import DataError
from firmware_bridge.store.samples import (
    COLUMNS,
    SamplesWriter,
    SessionMeta,
    read_generic_csv,
    read_samples,
    write_samples,
)
from imu.samples import SampleBlock


def block(n=50, t0=0.0, rate_hz=100.0, seed=0):
    rng = np.random.default_rng(seed)
    return SampleBlock(t0 + np.arange(n) / rate_hz, rng.normal(0, 5, (n, 3)), rng.normal(0, 100, (n, 3)))


def test_round_trip_keeps_values_to_written_precision(tmp_path):
    b = block()
    meta = SessionMeta(sensor="mpu6050", placement="shank", side="right", nominal_rate_hz=200.0,
                       calibration={"accel_offset_mps2": [0.1, -0.2, 0.0]}, start_utc="2026-11-25T09:30:00Z")
    write_samples(tmp_path / "s.csv", meta, b)
    got_meta, got, problems = read_samples(tmp_path / "s.csv")
    assert got_meta == meta and problems == []
    np.testing.assert_allclose(got.t_s, b.t_s, atol=1e-6)
    np.testing.assert_allclose(got.accel_mps2, b.accel_mps2, atol=1e-5)
    np.testing.assert_allclose(got.gyro_dps, b.gyro_dps, atol=1e-4)


def test_standard_readers_load_it(tmp_path):
    write_samples(tmp_path / "s.csv", SessionMeta(), block(10))
    with open(tmp_path / "s.csv", newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 10
    data = np.loadtxt(tmp_path / "s.csv", delimiter=",", comments="#", skiprows=13)
    assert data.shape == (10, 7)


def test_truncated_last_line_is_ignored_with_a_note(tmp_path):
    p = tmp_path / "s.csv"
    w = SamplesWriter(p, SessionMeta())
    w.write(block(20))
    w.flush()
    with open(p, "a") as f:
        f.write("0.200000,1.0,2.")        # the crash came mid-row
    meta, got, problems = read_samples(p)
    assert len(got) == 20 and "cut short" in problems[0]


@pytest.mark.parametrize("bad, message", [
    ("1.0,2.0,abc", "expected 7 fields"),
    ("0.5,1,2,3,4,5,x", "not a number"),
    ("0.5,1,2,3,4,5,nan", "value is not finite"),
])
def test_bad_row_reports_its_line(tmp_path, bad, message):
    p = tmp_path / "s.csv"
    write_samples(p, SessionMeta(), block(5))
    lines = p.read_text().split("\n")
    index = len(lines) - 3
    lines.insert(index, bad)
    p.write_text("\n".join(lines))
    bad_line = index + 1
    with pytest.raises(DataError, match=f":{bad_line}: {message}"):
        read_samples(p)
    meta, got, problems = read_samples(p, skip_bad_rows=True)
    assert len(got) == 5 and f":{bad_line}:" in problems[0]


def test_time_going_backwards_is_an_error(tmp_path):
    b = block(5)
    b.t_s[3] = b.t_s[1]
    write_samples(tmp_path / "s.csv", SessionMeta(), b)
    with pytest.raises(DataError, match="time goes backwards"):
        read_samples(tmp_path / "s.csv")


def test_not_a_session_file(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not a hingemarch v1 samples file"):
        read_samples(tmp_path / "x.csv")


def test_generic_csv_with_units(tmp_path):
    p = tmp_path / "phone.csv"
    rows = ["time_ms;ax;ay;az;wx;wy;wz"] + [f"{1000 + 10 * i};0;0;1;0;0;{np.pi}" for i in range(30)]
    p.write_text("\n".join(rows) + "\n")
    meta, b, _ = read_generic_csv(p, "time_ms", ["ax", "ay", "az"], ["wx", "wy", "wz"],
                                  time_unit="ms", accel_unit="g", gyro_unit="radps")
    assert b.t_s[0] == 0 and b.t_s[1] == pytest.approx(0.01)
    assert b.accel_mps2[0, 2] == pytest.approx(9.80665) and b.gyro_dps[0, 2] == pytest.approx(180.0)
    assert meta.nominal_rate_hz == pytest.approx(100.0)
    with pytest.raises(DataError, match="no column named 'gx'"):
        read_generic_csv(p, "time_ms", ["ax", "ay", "az"], ["gx", "wy", "wz"])
