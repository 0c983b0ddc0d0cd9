"""`hingemarch analyze FILE` on phone app exports as they come (Sensor Logger, phyphox), and the unit
check of every CSV: a workout simulated by imu.sim, written in each app's own layout
(tests/phone_exports.py), counts the workout's reps; what cannot be used is one line saying what to
export instead, and units that do not fit the data name the flag that fixes them."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from phone_exports import gravity_of, phyphox_columns, phyphox_meta, phyphox_set, sensor_logger_files, workout, write_zip, xlsx

from analysis.events import RepEvent
from analysis.pipeline import Params, recording_pipeline
from firmware_bridge.cli.hingemarch import main
from firmware_bridge.store.phone import read_phone_export


def analyze(capsys, *argv) -> tuple[int, dict | str]:
    """Exit code and the JSON document (or the error line)."""
    rc = main(["analyze", *map(str, argv), "--json"])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if rc == 0 else err.strip())


@pytest.fixture(scope="module")
def truth():
    return workout(1)[0].truth.total_reps


@pytest.mark.parametrize("platform, standardised", [("Android", False), ("iOS", False), ("iOS", True)])
def test_a_sensor_logger_zip_counts_the_workout(tmp_path, capsys, truth, platform, standardised):
    path = write_zip(tmp_path / "2025-12-01_10-00-00.zip", sensor_logger_files(platform, standardised=standardised))
    rc, doc = analyze(capsys, path)
    assert rc == 0, doc
    assert doc["totals"]["reps"] == truth
    assert doc["sensor"] == f"sensor-logger-{platform.lower()}"
    assert doc["start_utc"] == "2025-12-01T10:00:00Z"


def test_an_unzipped_sensor_logger_folder_reads_alike(tmp_path, capsys, truth):
    folder = tmp_path / "recording"
    folder.mkdir()
    for name, text in sensor_logger_files("Android").items():
        (folder / name).write_text(text)
    rc, doc = analyze(capsys, folder)
    assert rc == 0 and doc["totals"]["reps"] == truth


def test_ios_sign_and_gravity_give_the_same_samples_as_android(tmp_path):
    """iOS: Accelerometer.csv + Gravity.csv, both negated; Android: TotalAcceleration.csv. Read back,
    both are the simulated specific force, on the gyro's own time stamps."""
    s, tg, _ = workout(1)
    android = read_phone_export(write_zip(tmp_path / "a.zip", sensor_logger_files("Android")))
    ios = read_phone_export(write_zip(tmp_path / "i.zip", sensor_logger_files("iOS")))
    np.testing.assert_allclose(ios[1].accel_mps2, android[1].accel_mps2, atol=1e-9)
    np.testing.assert_allclose(android[1].t_s, tg[:len(android[1])] - tg[0], atol=1e-6)
    expect = np.column_stack([np.interp(tg[:len(android[1])], s.block.t_s, s.block.accel_mps2[:, i]) for i in range(3)])
    np.testing.assert_allclose(android[1].accel_mps2, expect, atol=1e-3)   # ns stamps as float64: 256 ns steps
    np.testing.assert_allclose(android[1].gyro_dps[:10], np.degrees(workout(1)[2][:10]), atol=1e-9)


@pytest.mark.parametrize("platform, missing", [("Android", "TotalAcceleration"), ("iOS", "Gravity")])
def test_acceleration_without_gravity_is_refused_with_the_file_to_record(tmp_path, capsys, platform, missing):
    path = write_zip(tmp_path / "lin.zip", sensor_logger_files(platform, linear_only=True))
    rc, err = analyze(capsys, path)
    assert rc == 2 and len(err.splitlines()) == 1
    assert "without gravity" in err and missing in err


def test_repeated_sensor_logger_rows_are_dropped_and_said(tmp_path, capsys, truth):
    files = sensor_logger_files("Android")
    lines = files["Gyroscope.csv"].splitlines(keepends=True)
    files["Gyroscope.csv"] = "".join(lines[:500] + lines[496:500] + lines[500:])   # 4 rows written twice
    rc, doc = analyze(capsys, write_zip(tmp_path / "dup.zip", files))
    assert rc == 0 and doc["totals"]["reps"] == truth
    assert any("Gyroscope.csv: 4 row(s) with a repeated or earlier time dropped" in p for p in doc["problems"])


@pytest.mark.parametrize("sep, decimal", [(",", "."), (";", ","), ("\t", ",")])
def test_a_phyphox_csv_zip_counts_the_workout(tmp_path, capsys, truth, sep, decimal):
    _, acc, gyr = phyphox_columns(1)
    files = {"Accelerometer.csv": phyphox_set(acc, sep, decimal), "Gyroscope.csv": phyphox_set(gyr, sep, decimal),
             **phyphox_meta(sep, decimal)}
    rc, doc = analyze(capsys, write_zip(tmp_path / "Acc and gyro 2025-12-01.zip", files))
    assert rc == 0, doc
    assert doc["totals"]["reps"] == truth and doc["sensor"] == "phyphox"
    assert doc["start_utc"] == "2025-12-01T10:00:00Z"


def test_one_phyphox_table_holding_both_sensors_as_csv_and_as_xlsx(tmp_path, capsys, truth):
    _, acc, gyr = phyphox_columns(1)
    (tmp_path / "Raw Data.csv").write_text(phyphox_set(acc + gyr, ";", ","))
    rc, doc = analyze(capsys, tmp_path / "Raw Data.csv")
    assert rc == 0 and doc["totals"]["reps"] == truth
    book = xlsx(tmp_path / "both.xlsx", {"Raw Data": acc + gyr, "Metadata Device": [("property", np.array([]))]})
    rc, doc = analyze(capsys, book)
    assert rc == 0 and doc["totals"]["reps"] == truth


def test_phyphox_without_g_or_without_gyro_or_as_xls_is_refused(tmp_path, capsys):
    _, acc, gyr = phyphox_columns(1, what="Linear Acceleration")
    rc, err = analyze(capsys, write_zip(tmp_path / "lin.zip", {"Raw Data.csv": phyphox_set(acc + gyr)}))
    assert rc == 2 and "no gravity" in err and "Acceleration with g" in err
    _, acc, _ = phyphox_columns(1)
    rc, err = analyze(capsys, write_zip(tmp_path / "acc.zip", {"Raw Data.csv": phyphox_set(acc)}))
    assert rc == 2 and "Gyroscope" in err and "one experiment" in err
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    rc, err = analyze(capsys, tmp_path / "old.xls")
    assert rc == 2 and ".xls" in err and ".xlsx" in err
    rc, err = analyze(capsys, write_zip(tmp_path / "other.zip", {"notes.txt": "hello"}))
    assert rc == 2 and "neither a Sensor Logger export" in err


def generic(tmp_path, time_scale: float, accel_scale: float, gyro_scale: float, sep=",", decimal=".") -> str:
    """The workout as a plain CSV: time in 1/time_scale s, acceleration and gyro divided by their scales."""
    b = workout(1)[0].block
    rows = [sep.join(["t", "ax", "ay", "az", "gx", "gy", "gz"])]
    for t, a, g in zip(b.t_s, b.accel_mps2 / accel_scale, b.gyro_dps / gyro_scale, strict=True):
        rows.append(sep.join(f"{v:.6f}".replace(".", decimal) for v in (1000 + t / time_scale, *a, *g)))
    path = tmp_path / "imu.csv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


COLUMNS = ("--columns", "t,ax,ay,az,gx,gy,gz")


def test_a_csv_in_ms_and_g_read_without_unit_flags_names_each_fix(tmp_path, capsys, truth):
    path = generic(tmp_path, 1e-3, 9.80665, np.degrees(1.0))
    rc, err = analyze(capsys, path, *COLUMNS)
    assert rc == 2 and len(err.splitlines()) == 1
    assert "make 0.1 samples per second" in err and "(--time-unit ms)?" in err
    rc, err = analyze(capsys, path, *COLUMNS, "--time-unit", "ms")
    assert rc == 2 and "about 1/9.8 of gravity" in err and "(--accel-unit g)?" in err
    rc, err = analyze(capsys, path, *COLUMNS, "--time-unit", "ms", "--accel-unit", "g")
    assert rc == 2 and "(--gyro-unit radps)?" in err
    rc, doc = analyze(capsys, path, *COLUMNS, "--time-unit", "ms", "--accel-unit", "g", "--gyro-unit", "radps")
    assert rc == 0 and doc["totals"]["reps"] == truth and doc["problems"] == []


def test_the_opposite_unit_mistakes_are_named_too(tmp_path, capsys):
    path = generic(tmp_path, 1.0, 1.0, 1.0)
    rc, err = analyze(capsys, path, *COLUMNS, "--accel-unit", "g")
    assert rc == 2 and "(--accel-unit mps2)?" in err
    rc, err = analyze(capsys, path, *COLUMNS, "--gyro-unit", "radps")
    assert rc == 2 and "(--gyro-unit dps)?" in err
    rc, err = analyze(capsys, path, *COLUMNS, "--time-unit", "ns")
    assert rc == 2 and "(--time-unit s)?" in err


def test_a_decimal_comma_csv_with_semicolons_reads(tmp_path, capsys, truth):
    path = generic(tmp_path, 1.0, 1.0, 1.0, sep=";", decimal=",")
    rc, doc = analyze(capsys, path, *COLUMNS)
    assert rc == 0 and doc["totals"]["reps"] == truth


def test_linear_acceleration_in_a_generic_csv_is_refused(tmp_path, capsys):
    s, _, _ = workout(1)
    b = s.block
    lin = b.accel_mps2 - gravity_of(b.t_s, b.accel_mps2)
    rows = ["t,ax,ay,az,gx,gy,gz"] + [",".join(f"{v:.6f}" for v in (t, *a, *g))
                                       for t, a, g in zip(b.t_s, lin, b.gyro_dps, strict=True)]
    (tmp_path / "lin.csv").write_text("\n".join(rows) + "\n")
    rc, err = analyze(capsys, tmp_path / "lin.csv", *COLUMNS)
    assert rc == 2 and "no gravity in it" in err


def test_a_session_file_is_still_read_as_one(tmp_path, capsys):
    rc = main(["simulate", "--seed", "2", "--out", str(tmp_path / "sim")])
    capsys.readouterr()
    assert rc == 0
    folder = next(p for p in (tmp_path / "sim").rglob("samples.csv")).parent
    rc, doc = analyze(capsys, folder)
    assert rc == 0 and doc["sensor"] == "simulated"


def test_a_phone_export_replays_into_a_session_with_its_reps(tmp_path, truth):
    """`run --source replay:EXPORT` records the export as a session (its report is on the page)."""
    path = write_zip(tmp_path / "rec.zip", sensor_logger_files("Android"))
    cfg = tmp_path / "c.toml"
    cfg.write_text("[mqtt]\nenabled = false\n[web]\nenabled = false\n")
    rc = main(["run", "--config", str(cfg), "--state-dir", str(tmp_path / "state"), "--source", f"replay:{path}",
               "--speed", "0"])
    assert rc == 0
    (session,) = (tmp_path / "state" / "sessions").iterdir()
    summary = json.loads((session / "summary.json").read_text())
    assert summary["totals"]["reps"] == truth and summary["sensor"] == "sensor-logger-android"


def test_the_acceleration_sign_changes_neither_the_count_nor_the_measures():
    """Why an iOS file read with the other "Standardise Units & Frames" setting still reads right:
    acceleration of the opposite sign counts the same reps with the same depth, height and sway."""
    b = workout(1)[0].block
    reps = []
    for sign in (1.0, -1.0):
        p = recording_pipeline(Params())
        events = p.feed(b.t_s, sign * b.accel_mps2, b.gyro_dps) + p.finish()
        reps.append(np.array([(e.hinge_depth_deg, e.march_height_deg, e.sway_deg if e.sway_deg is not None else -1.0)
                              for e in events if isinstance(e, RepEvent)]))
    assert len(reps[0]) == len(reps[1]) == workout(1)[0].truth.total_reps
    np.testing.assert_allclose(reps[0], reps[1], atol=0.15)


@pytest.mark.parametrize("name, body", [
    ("Gyroscope.csv", "time,seconds_elapsed,z,y,x\n1,0,0,0,0\n2,0.1,0,x,0\n"),     # not a number
    ("Gyroscope.csv", 'time,seconds_elapsed,z,y,x\n1,0,"0\n,0,0\n'),               # a quote across lines
    ("Gyroscope.csv", "time,seconds_elapsed,z,y,x\n1,0\x00,0,0,0\n"),              # a NUL byte
    ("Gyroscope.csv", "time,seconds_elapsed,z,y\n1,0,0,0\n"),                      # a column missing
    ("Raw Data.csv", '"Time (s)","Acceleration x (m/s^2)"\n0,1\n'),                # half a table
    ("Gyroscope.csv", b"\xff\xfe\x00"),                                            # not text
])
def test_a_broken_export_is_one_line(tmp_path, capsys, name, body):
    files = sensor_logger_files("Android") if name != "Raw Data.csv" else {}
    files[name] = body
    rc, err = analyze(capsys, write_zip(tmp_path / "x.zip", files))
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("hingemarch analyze: error: "), err


def test_a_hostile_xlsx_is_one_line(tmp_path, capsys):
    _, acc, gyr = phyphox_columns(1)
    book = xlsx(tmp_path / "b.xlsx", {"Raw Data": acc + gyr})
    with zipfile.ZipFile(book) as z:
        files = {n: z.read(n) for n in z.namelist()}
    sheet = files["xl/worksheets/sheet1.xml"].decode()
    for bad in (sheet.replace("<c><v>", '<c r="ZZZZZZ9"><v>', 1), sheet.replace("<c><v>", '<c t="s"><v>', 1),
                sheet[:len(sheet) // 2]):
        files["xl/worksheets/sheet1.xml"] = bad.encode()
        rc, err = analyze(capsys, write_zip(tmp_path / "bad.xlsx", files))
        assert rc == 2 and len(err.splitlines()) == 1 and "not a readable .xlsx workbook" in err, err


def test_sensor_logger_values_in_g_are_read_as_g_with_a_note(tmp_path, capsys, truth):
    """The documented unit is m/s²; a file in g (gravity reading 1) is not read 9.8 x too small."""
    files = sensor_logger_files("iOS")
    for name in ("Accelerometer.csv", "Gravity.csv"):
        lines = files[name].splitlines()
        rows = [r.split(",") for r in lines[1:]]
        files[name] = "\n".join([lines[0]] + [",".join(r[:2] + [repr(float(v) / 9.80665) for v in r[2:]])
                                              for r in rows]) + "\n"
    rc, doc = analyze(capsys, write_zip(tmp_path / "g.zip", files))
    assert rc == 0 and doc["totals"]["reps"] == truth
    assert any("Gravity.csv: gravity reads 1.00, so the values are in g" in p for p in doc["problems"])
