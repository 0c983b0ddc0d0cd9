"""Phone app exports, read as the apps write them: Sensor Logger and phyphox (docs/phone.md).

- **Sensor Logger** (a zip export, or its folder unzipped): one CSV per sensor, columns
  ``time,seconds_elapsed,z,y,x`` (``time`` in ns since the epoch). Acceleration is in m/s² (a file
  whose gravity reads 1 is in g and read so, with a note) and the gyro in rad/s on both platforms;
  ``TotalAcceleration.csv`` (Android) has gravity in it, while ``Accelerometer.csv`` has not and is
  added to ``Gravity.csv`` (iOS). ``Metadata.csv`` names the
  platform: on iOS, unless "Standardise Units & Frames" was on, acceleration and gravity have the
  opposite sign to Android's (the export does not say which), so an iOS file is turned into
  Android's sign; the count and the angles do not depend on that sign.
- **phyphox** (the CSV zip in any of its separator and decimal-point choices, one of its CSV files,
  or the Excel .xlsx export): tables with headers like ``"Time (s)","Acceleration x (m/s^2)"`` and
  ``"Gyroscope x (rad/s)"``, each sensor's columns after its own time column, in one table or one per
  sensor (an experiment holding both sensors). ``Linear Acceleration`` (without g) is refused.

Each sensor keeps its own time stamps; the accelerometer is interpolated onto the gyro's stamps
where both recorded. Stamps repeated or going back are dropped and counted.
"""
from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from analysis.errors import DataError
from analysis.units import STANDARD_GRAVITY_MPS2
from firmware_bridge.store.samples import FORMAT_MAGIC, MAX_ACCEL_MPS2, MAX_GYRO_DPS, SessionMeta, linear_acceleration
from firmware_bridge.store.tables import MAX_ENTRY_BYTES, Table, parse_csv, parse_xlsx
from imu.phone.join import Joiner
from imu.samples import SampleBlock

RAD_TO_DEG = 180.0 / math.pi
LOGGER_COLUMNS = ("time", "x", "y", "z")
SENSOR_LOGGER_FILES = ("TotalAcceleration.csv", "Accelerometer.csv", "Gravity.csv", "Gyroscope.csv")
WITH_GRAVITY_HINT = ("export the accelerometer with gravity: in Sensor Logger also record Gravity (iPhone) "
                     "or TotalAcceleration (Android); in phyphox use \"Acceleration with g\" (docs/phone.md)")


@dataclass
class Series:
    """One sensor's samples as recorded: its own time stamps (s) and three axes in the analysis's unit."""

    t_s: np.ndarray
    xyz: np.ndarray


# --- reading the files of an export: a zip, a folder, or one file ------------------------------------

def _entries(path: Path) -> dict[str, tuple[str, object]]:
    """The files of an export by lower-case base name: (their name for messages, how to read them)."""
    if path.is_dir():
        return {f.name.lower(): (str(f), f) for f in sorted(path.rglob("*")) if f.is_file()}
    if zipfile.is_zipfile(path):
        try:
            z = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as e:
            raise DataError(f"{path}: cannot read the zip: {e}") from None
        return {Path(i.filename).name.lower(): (f"{path}:{i.filename}", (z, i))
                for i in z.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")}
    return {path.name.lower(): (str(path), path)}


def _read_bytes(name: str, where) -> bytes:
    try:
        if isinstance(where, Path):
            if where.stat().st_size > MAX_ENTRY_BYTES:
                raise DataError(f"{name}: larger than {MAX_ENTRY_BYTES >> 30} GiB")
            return where.read_bytes()
        z, info = where
        if info.file_size > MAX_ENTRY_BYTES:
            raise DataError(f"{name}: larger than {MAX_ENTRY_BYTES >> 30} GiB unpacked")
        return z.read(info)
    except (OSError, zipfile.BadZipFile, RuntimeError) as e:
        raise DataError(f"{name}: cannot read: {e}") from None


def _read_text(name: str, where) -> str:
    try:
        return _read_bytes(name, where).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{name}: not a text file") from None


# --- Sensor Logger -------------------------------------------------------------------------------

def _ordered(name: str, t_s: np.ndarray, xyz: np.ndarray, problems: list[str]) -> Series:
    """Rows with a time after every earlier one (Sensor Logger may repeat rows; phyphox pads with NaN)."""
    keep = np.isfinite(t_s) & np.isfinite(xyz).all(axis=1)
    t_s, xyz = t_s[keep], xyz[keep]
    later = np.concatenate(([True], t_s[1:] > np.maximum.accumulate(t_s)[:-1])) if len(t_s) else keep[:0]
    if (~later).sum():
        problems.append(f"{name}: {int((~later).sum())} row(s) with a repeated or earlier time dropped")
    if later.sum() < 2:
        raise DataError(f"{name}: fewer than 2 samples")
    return Series(t_s[later], xyz[later])


def _logger_series(entries, filename: str, scale: float, skip_bad: bool, problems: list[str]) -> Series | None:
    """One Sensor Logger file (``time`` ns, ``x``, ``y``, ``z`` by name), or None when not in the export."""
    if filename.lower() not in entries:
        return None
    name, where = entries[filename.lower()]

    def pick(header: list[str]) -> list[int]:
        missing = [c for c in LOGGER_COLUMNS if c not in header]
        if missing:
            raise DataError(f"{name}: no column {', '.join(missing)}; the header has {', '.join(header)}")
        return [header.index(c) for c in LOGGER_COLUMNS]
    table = parse_csv(name, _read_text(name, where), pick, skip_bad, problems)
    col = dict(zip(LOGGER_COLUMNS, table.rows.T, strict=True))
    return _ordered(name, col["time"] * 1e-9, np.column_stack([col["x"], col["y"], col["z"]]) * scale, problems)


def _g_scale(s: Series, name: str, problems: list[str]) -> float:
    """1, or standard gravity when the file's gravity is about 1 (values in g, not the documented
    m/s²: never read 9.8 x too small), which a note says."""
    rest = float(np.median(np.linalg.norm(s.xyz, axis=1)))
    if 0.8 < rest < 1.2:
        problems.append(f"{name}: gravity reads {rest:.2f}, so the values are in g (not m/s²) and are read as g")
        return STANDARD_GRAVITY_MPS2
    return 1.0


def _platform(entries) -> str:
    """``platform`` of Sensor Logger's Metadata.csv (iOS / Android), '' when absent."""
    if "metadata.csv" not in entries:
        return ""
    name, where = entries["metadata.csv"]
    rows = list(csv.DictReader(io.StringIO(_read_text(name, where))))
    return (rows[0].get("platform") or "").strip() if rows else ""


def read_sensor_logger(entries, skip_bad: bool) -> tuple[SessionMeta, SampleBlock, list[str]]:
    problems: list[str] = []
    gyro = _logger_series(entries, "Gyroscope.csv", RAD_TO_DEG, skip_bad, problems)
    total = _logger_series(entries, "TotalAcceleration.csv", 1.0, skip_bad, problems)
    platform = _platform(entries)
    if total is None:
        lin = _logger_series(entries, "Accelerometer.csv", 1.0, skip_bad, problems)
        grav = _logger_series(entries, "Gravity.csv", 1.0, skip_bad, problems)
        if lin is None:
            raise DataError("Sensor Logger export without acceleration: record Accelerometer and Gravity "
                            "(iPhone) or TotalAcceleration (Android) (docs/phone.md)")
        if grav is None:
            raise DataError(f"{entries['accelerometer.csv'][0]}: acceleration without gravity and no "
                            f"Gravity.csv to add: {WITH_GRAVITY_HINT}")
        scale = _g_scale(grav, "Gravity.csv", problems)
        sign = -1.0 if platform.lower() == "ios" else 1.0      # iOS's sign -> Android's (module doc)
        t_s, linear, gravity = _joined(lin, grav)
        total = Series(t_s, sign * scale * (linear + gravity))
    else:
        total.xyz *= _g_scale(total, "TotalAcceleration.csv", problems)
    if gyro is None:
        raise DataError("Sensor Logger export without Gyroscope.csv: record the Gyroscope too (docs/phone.md)")
    sensor = f"sensor-logger-{platform.lower()}" if platform else "sensor-logger"
    return _merge(total, gyro, sensor, problems)


# --- phyphox ---------------------------------------------------------------------------------------

_PHY = re.compile(r"^(?P<what>.*?)\s*(?P<axis>[xyz])\s*\((?P<unit>[^)]*)\)$")
ACCEL_UNITS = {"m/s^2": 1.0, "m/s²": 1.0, "g": STANDARD_GRAVITY_MPS2}
GYRO_UNITS = {"rad/s": RAD_TO_DEG, "deg/s": 1.0, "°/s": 1.0}
TIME_UNITS = {"s": 1.0, "ms": 1e-3}
_TIME = re.compile(r"^time\s*\((s|ms)\)$", re.I)


def phyphox_columns(header: list[str]) -> list[int]:
    """The columns phyphox's readers use: times and sensor axes (anything else is not read)."""
    return [i for i, h in enumerate(header) if _TIME.match(h) or _PHY.match(h)]


def _phyphox_series(table: Table, what: str, units: dict[str, float], problems: list[str]) -> Series | None:
    """The x, y, z columns named ``<what> x (<unit>)``... and the time column left of them."""
    cols = {}
    for i, h in enumerate(table.header):
        m = _PHY.match(h)
        if m and m.group("what").lower() == what.lower() and m.group("unit") in units:
            cols[m.group("axis")] = (i, units[m.group("unit")])
    if set(cols) != {"x", "y", "z"}:
        return None
    first = min(i for i, _ in cols.values())
    times = [i for i in range(first) if _TIME.match(table.header[i])]
    if not times:
        raise DataError(f"{table.name}: no \"Time (s)\" column before {table.header[first]!r}")
    ti = times[-1]
    t_scale = TIME_UNITS[_TIME.match(table.header[ti]).group(1).lower()]
    xyz = np.column_stack([table.rows[:, cols[a][0]] * cols[a][1] for a in "xyz"])
    return _ordered(table.name, table.rows[:, ti] * t_scale, xyz, problems)


def _phyphox_start(entries) -> str:
    """The UTC start of a phyphox recording: meta/time.csv's first "system time" (s since the epoch)."""
    if "time.csv" not in entries:
        return ""
    name, where = entries["time.csv"]
    try:
        table = parse_csv(name, _read_text(name, where), lambda h: [h.index("system time")], True, [])
        first = float(table.rows[0, 0])
        return datetime.fromtimestamp(first, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (DataError, ValueError, IndexError, OverflowError, OSError):
        return ""


def read_phyphox(tables: list[Table], start_utc: str) -> tuple[SessionMeta, SampleBlock, list[str]]:
    problems: list[str] = []
    accel = gyro = None
    linear = False
    for t in tables:
        accel = accel or _phyphox_series(t, "Acceleration", ACCEL_UNITS, problems)
        gyro = gyro or _phyphox_series(t, "Gyroscope", GYRO_UNITS, problems)
        linear = linear or _phyphox_series(t, "Linear Acceleration", ACCEL_UNITS, []) is not None
    if accel is None:
        if linear:
            raise DataError(f"phyphox \"Linear Acceleration\" has no gravity in it: {WITH_GRAVITY_HINT}")
        raise DataError("phyphox export without \"Acceleration x (m/s^2)\" columns: record \"Acceleration with g\" "
                        "and the gyroscope in one experiment (docs/phone.md)")
    if gyro is None:
        raise DataError("phyphox export without \"Gyroscope x (rad/s)\" columns: phyphox runs one experiment at "
                        "a time, so make one with both sensors (docs/phone.md)")
    meta, block, more = _merge(accel, gyro, "phyphox", problems)
    meta.start_utc = start_utc
    return meta, block, more


# --- merging two sensors' time stamps ----------------------------------------------------------------

def _joined(first: Series, second: Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, first, second at t): the live phone sources' Joiner, so a file and a stream are joined
    alike (over the span both recorded, never across a gap)."""
    joiner = Joiner()
    joiner.add_first(first.t_s, first.xyz)
    joiner.add_second(second.t_s, second.xyz)
    return joiner.take()


def _merge(accel: Series, gyro: Series, sensor: str, problems: list[str]) -> tuple[SessionMeta, SampleBlock, list[str]]:
    """Accelerometer interpolated onto the gyro's stamps where both recorded; t_s from 0."""
    t, gyro_dps, accel_mps2 = _joined(gyro, accel)
    if len(t) < 2:
        raise DataError("the accelerometer and the gyro did not record at the same time")
    block = SampleBlock(t - t[0], accel_mps2, gyro_dps)
    for what, values, limit, unit in (("acceleration", block.accel_mps2, MAX_ACCEL_MPS2, "m/s²"),
                                      ("rotation", block.gyro_dps, MAX_GYRO_DPS, "°/s")):
        worst = float(np.linalg.norm(values, axis=1).max())
        if worst > limit:
            raise DataError(f"{what} {worst:.4g} {unit} is beyond any sensor (at most {limit:.0f})")
    rest = linear_acceleration(block)
    if rest is not None:
        raise DataError(f"the acceleration is {rest:.2f} m/s² at rest, so it has no gravity in it: {WITH_GRAVITY_HINT}")
    rate = (len(t) - 1) / float(t[-1] - t[0])
    start = datetime.fromtimestamp(t[0], UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t[0] > 1e9 else ""
    return SessionMeta(sensor=sensor, nominal_rate_hz=round(rate, 3), start_utc=start), block, problems


# --- which export a path is --------------------------------------------------------------------------

def read_phone_export(path: str | Path, skip_bad_rows: bool = False
                      ) -> tuple[SessionMeta, SampleBlock, list[str]] | None:
    """A phone app's export read into samples: (metadata, samples, problems), or None when ``path``
    is none of the formats above (so the caller tries its own). DataError for an export that is
    recognised but cannot be used, with what to record or export instead."""
    p = Path(path)
    if not p.exists() or (p / "samples.csv").is_file() or _head(p).startswith(FORMAT_MAGIC.encode()):
        return None                                   # a session: store.samples reads it
    if p.suffix.lower() == ".xls":
        raise DataError(f"{p}: the legacy .xls format is not read: export from phyphox as Excel (.xlsx) or CSV")
    if p.is_file() and p.suffix.lower() == ".xlsx":
        problems: list[str] = []
        meta, block, more = read_phyphox(parse_xlsx(p, phyphox_columns, skip_bad_rows, problems), "")
        return meta, block, problems + more
    if not (p.is_dir() or p.is_file()):
        return None                                   # a FIFO or device: store.samples says what it is
    entries = _entries(p)
    if any(f.lower() in entries for f in SENSOR_LOGGER_FILES) and any(
            _is_logger_csv(*entries[f.lower()]) for f in SENSOR_LOGGER_FILES if f.lower() in entries):
        return read_sensor_logger(entries, skip_bad_rows)
    problems = []
    tables = [parse_csv(name, text, phyphox_columns, skip_bad_rows, problems)
              for key, (name, where) in entries.items()
              if key.endswith(".csv") and key not in ("device.csv", "time.csv")
              and (text := _phyphox_text(name, where)) is not None]
    if not tables:
        if p.is_dir() or zipfile.is_zipfile(p):
            raise DataError(f"{p}: neither a Sensor Logger export (Gyroscope.csv, TotalAcceleration.csv...) "
                            f"nor a phyphox one (tables starting with \"Time (s)\"); see docs/phone.md")
        return None
    meta, block, more = read_phyphox(tables, _phyphox_start(entries))
    return meta, block, problems + more


def _head(p: Path) -> bytes:
    try:
        with open(p, "rb") as f:
            return f.read(64)
    except OSError:
        return b""


def _is_logger_csv(name: str, where) -> bool:
    head = _read_bytes(name, where)[:200].decode("utf-8-sig", errors="replace").split("\n", 1)[0]
    return {"time", "x", "y", "z"} <= {c.strip().strip('"') for c in head.split(",")}


def _phyphox_text(name: str, where) -> str | None:
    """The text of a CSV whose header is phyphox's (a quoted ``Time (s)`` first), else None."""
    head = _read_bytes(name, where)[:4096]
    if not re.match(rb'^(\xef\xbb\xbf)?"?Time \((s|ms)\)"?[,;\t]', head):
        return None
    return _read_text(name, where)
