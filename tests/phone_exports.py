"""Phone app exports written in the apps' own layouts, from a simulated workout (the motion comes from
imu.sim, so the reps are known). Layouts as the apps document and write them (docs/phone.md):

- Sensor Logger: one CSV per sensor, ``time,seconds_elapsed,z,y,x`` (time in ns since the epoch),
  m/s² and rad/s; Android: TotalAcceleration.csv (with gravity) and Accelerometer.csv (without);
  iOS: Accelerometer.csv (without gravity) and Gravity.csv, both of the opposite sign to Android's;
  Metadata.csv with ``platform``.
- phyphox: the CSV zip (one ``<set>.csv`` per export set, quoted header, numbers as Java's
  ``0.000000000E0`` with the chosen separator and decimal mark, ``NaN`` padding, meta/device.csv and
  meta/time.csv), or the .xlsx (one sheet per set, inline strings, numbers, no cell references).
"""
from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from imu.sim import simulate_session

T0_NS = 1_764_583_200_000_000_000       # 2025-12-01T10:00:00Z
GYRO_LAG_S = 0.003                     # each sensor keeps its own stamps: the gyro's come 3 ms later


def workout(seed: int = 1, rate_hz: float = 100.0):
    """A simulated session at a phone's rate: (session, gyro stamps, gyro rad/s at those stamps)."""
    s = simulate_session(seed, rate_hz=rate_hz)
    b = s.block
    tg = b.t_s + GYRO_LAG_S
    gyro = np.column_stack([np.interp(tg, b.t_s, b.gyro_dps[:, i]) for i in range(3)])
    return s, tg, np.radians(gyro)


def gravity_of(t_s: np.ndarray, accel: np.ndarray) -> np.ndarray:
    """A phone's gravity estimate: the accelerometer low-passed (1 s) and scaled to 1 g."""
    n = max(1, int(round(1.0 / np.median(np.diff(t_s)))))
    k = np.ones(n) / n
    low = np.column_stack([np.convolve(accel[:, i], k, mode="same") for i in range(3)])
    return low / np.linalg.norm(low, axis=1, keepdims=True) * 9.80665


def logger_csv(t_s: np.ndarray, xyz: np.ndarray) -> str:
    rows = ["time,seconds_elapsed,z,y,x"]
    rows += [f"{T0_NS + int(round(t * 1e9))},{t:.6f},{v[2]!r},{v[1]!r},{v[0]!r}" for t, v in zip(t_s, xyz.tolist())]
    return "\n".join(rows) + "\n"


def sensor_logger_files(platform: str, seed: int = 1, linear_only: bool = False,
                        standardised: bool = False) -> dict[str, str]:
    """The CSV files of a Sensor Logger recording of a workout on ``platform`` (Android / iOS);
    ``standardised``: "Standardise Units & Frames" on (iOS then writes Android's sign)."""
    s, tg, gyro = workout(seed)
    b = s.block
    grav = gravity_of(b.t_s, b.accel_mps2)
    files = {"Gyroscope.csv": logger_csv(tg, gyro),
             "Metadata.csv": f"version,device name,recording time,platform\n3,test phone,2025-12-01_10-00-00,{platform}\n"}
    if platform == "iOS":
        sign = 1.0 if standardised else -1.0
        files["Accelerometer.csv"] = logger_csv(b.t_s, sign * (b.accel_mps2 - grav))
        if not linear_only:
            files["Gravity.csv"] = logger_csv(b.t_s, sign * grav)
    else:
        files["Accelerometer.csv"] = logger_csv(b.t_s, b.accel_mps2 - grav)
        if not linear_only:
            files["TotalAcceleration.csv"] = logger_csv(b.t_s, b.accel_mps2)
    return files


def write_zip(path: Path, files: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


def java_sci(v: float, decimal: str = ".") -> str:
    """A number as phyphox writes it (Java DecimalFormat ``0.000000000E0``)."""
    if math.isnan(v):
        return "NaN"
    mantissa, exp = f"{v:.9E}".split("E")
    return f"{mantissa}E{int(exp)}".replace(".", decimal)


def phyphox_set(columns: list[tuple[str, np.ndarray]], sep: str = ",", decimal: str = ".") -> str:
    """One export set as phyphox's CSV: quoted names, as many rows as the longest column, NaN after."""
    n = max(len(c) for _, c in columns)
    lines = [sep.join(f'"{name}"' for name, _ in columns)]
    for i in range(n):
        lines.append(sep.join(java_sci(float(c[i]), decimal) if i < len(c) else "NaN" for _, c in columns))
    return "\n".join(lines) + "\n"


def phyphox_columns(seed: int = 1, what: str = "Acceleration"):
    """An experiment holding the accelerometer (``what``: Acceleration, or Linear Acceleration) and the
    gyro, each with its own time column (experiment time, s)."""
    s, tg, gyro = workout(seed)
    b = s.block
    accel = b.accel_mps2 if what == "Acceleration" else b.accel_mps2 - gravity_of(b.t_s, b.accel_mps2)
    acc = [("Time (s)", b.t_s)] + [(f"{what} {a} (m/s^2)", accel[:, i]) for i, a in enumerate("xyz")]
    acc += [("Absolute acceleration (m/s^2)", np.linalg.norm(accel, axis=1))]
    gyr = [("Time (s)", tg[:-7])] + [(f"Gyroscope {a} (rad/s)", gyro[:-7, i]) for i, a in enumerate("xyz")]
    gyr += [("Absolute (rad/s)", np.linalg.norm(gyro[:-7], axis=1))]
    return s, acc, gyr


def phyphox_meta(sep: str = ",", decimal: str = ".") -> dict[str, str]:
    t0 = T0_NS / 1e9
    return {"meta/device.csv": sep.join(['"property"', '"value"']) + "\n" + sep.join(['"deviceModel"', '"test"']) + "\n",
            "meta/time.csv": sep.join(['"event"', '"experiment time"', '"system time"', '"system time text"']) + "\n"
            + sep.join(['"START"', java_sci(0.0, decimal), f"{t0:.3f}".replace(".", decimal),
                        '"2025-12-01 10:00:00.000 UTC+00:00"']) + "\n"}


def xlsx(path: Path, sheets: dict[str, list[tuple[str, np.ndarray]]]) -> Path:
    """An .xlsx as phyphox's XlsxWriter makes it: inline-string header, number cells, NaN as text."""
    files: dict[str, str] = {"_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
                             'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
                             'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
                             'Target="xl/workbook.xml"/></Relationships>'}
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    book, rels = [], []
    for k, (name, columns) in enumerate(sheets.items(), start=1):
        n = max(len(c) for _, c in columns)
        rows = ["<row>" + "".join(f'<c t="inlineStr" s="1"><is><t xml:space="preserve">{h}</t></is></c>'
                                  for h, _ in columns) + "</row>"]
        for i in range(n):
            rows.append("<row>" + "".join(f"<c><v>{float(c[i])!r}</v></c>" if i < len(c)
                                          else '<c t="inlineStr"><is><t xml:space="preserve">NaN</t></is></c>'
                                          for _, c in columns) + "</row>")
        files[f"xl/worksheets/sheet{k}.xml"] = (f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}">'
                                                f'<sheetData>{"".join(rows)}</sheetData></worksheet>')
        book.append(f'<sheet name="{name}" sheetId="{k}" r:id="rId{k}"/>')
        rels.append(f'<Relationship Id="rId{k}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    f'relationships/worksheet" Target="worksheets/sheet{k}.xml"/>')
    files["xl/workbook.xml"] = (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="http://'
                                f'schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{"".join(book)}'
                                f'</sheets></workbook>')
    files["xl/_rels/workbook.xml.rels"] = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
                                           f'openxmlformats.org/package/2006/relationships">{"".join(rels)}</Relationships>')
    return write_zip(path, files)
