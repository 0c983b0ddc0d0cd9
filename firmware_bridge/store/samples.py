"""Session samples CSV, format v1 (samples.csv, second.csv): write, read, and import generic CSVs.

A v1 file is plain CSV preceded by ``#`` metadata lines (``# key: <JSON value>``), so
``pandas.read_csv(f, comment="#")``, ``numpy.loadtxt(f, delimiter=",", skiprows=...)`` or a
spreadsheet all load it. The header names every column with its unit. A last line without its
newline is a write cut short by a crash and is ignored; any other bad row is reported by line
(``read_samples``), or skipped and counted by the readers for the web page, which take only the
head (``head_meta``), the tail (``last_time_s``) or a chunk at a time (``sample_chunks``) of a
file that may still be growing. See docs/session-format.md.
"""
from __future__ import annotations

import csv
import json
import math
import os
import stat
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from analysis.errors import DataError, HingemarchError
from analysis.units import STANDARD_GRAVITY_MPS2
from imu.samples import SampleBlock

FORMAT_MAGIC = "# hingemarch session v1"
COLUMNS = ("t_s", "ax_mps2", "ay_mps2", "az_mps2", "gx_dps", "gy_dps", "gz_dps")
_ROW_FORMAT = "%.6f,%.5f,%.5f,%.5f,%.4f,%.4f,%.4f\n"
CHUNK_ROWS = 5000       # rows per block of sample_chunks
TAIL_BYTES = 4096       # last_time_s reads this much of the file's end


@dataclass
class SessionMeta:
    """Metadata at the top of every samples file."""

    sensor: str = "unknown"
    placement: str = "thigh"           # thigh | shank
    side: str = "left"                 # left | right (the lifted leg)
    nominal_rate_hz: float = 100.0
    accel_range_g: float = 16.0
    gyro_range_dps: float = 2000.0
    calibration: dict = field(default_factory=dict)
    start_utc: str = ""                # ISO-8601 UTC, e.g. 2026-11-25T09:30:00Z
    software_version: str = ""
    session_id: str = ""
    athlete: str = ""


def header_text(meta: SessionMeta) -> str:
    """The start of a v1 samples file: the magic line, the metadata lines, the column names."""
    lines = [FORMAT_MAGIC]
    lines += [f"# {k}: {json.dumps(v, sort_keys=True)}" for k, v in asdict(meta).items()]
    return "\n".join(lines) + "\n" + ",".join(COLUMNS) + "\n"


def format_rows(block: SampleBlock) -> str:
    """The CSV text of a block's rows (no header)."""
    data = np.column_stack([block.t_s, block.accel_mps2, block.gyro_dps])
    return "".join(_ROW_FORMAT % tuple(row) for row in data.tolist())


class SamplesWriter:
    """Appends blocks to a samples file; the caller decides when to flush and fsync."""

    def __init__(self, path: str | os.PathLike, meta: SessionMeta):
        self.path = Path(path)
        self._f = open(self.path, "x", encoding="utf-8", newline="")
        self._f.write(header_text(meta))
        self.rows = 0

    def write(self, block: SampleBlock) -> None:
        self._f.write(format_rows(block))
        self.rows += len(block)

    def flush(self, fsync: bool = False) -> None:
        self._f.flush()
        if fsync:
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self.flush(fsync=True)
            self._f.close()


def write_samples(path: str | os.PathLike, meta: SessionMeta, block: SampleBlock) -> None:
    """Write a whole session's samples in one go."""
    w = SamplesWriter(path, meta)
    try:
        w.write(block)
    finally:
        w.close()


def _meta_line(line: str) -> tuple[str, str] | None:
    """A ``# key: <JSON value>`` line as (key, raw value); None for a ``#`` line without a key."""
    key, sep, raw = line[1:].strip().partition(":")
    return (key.strip(), raw) if sep else None


def _parse_meta(path: Path, lines: list[tuple[int, str]]) -> SessionMeta:
    known = {f.name for f in fields(SessionMeta)}
    values = {}
    for lineno, line in lines:
        item = _meta_line(line)
        if item is None:
            continue
        key, raw = item
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise DataError(f"{path}:{lineno}: metadata {key!r} is not valid JSON: {raw.strip()!r}") from None
        if key in known:
            values[key] = value
    return SessionMeta(**values)


def _parse_rows(path: Path, rows: list[tuple[int, str]], ncols: int, skip_bad: bool,
                problems: list[str], scales: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """The rows as numbers; a bad one (see ``_row_problem``; ``scales`` turn time, accel and gyro
    into s, m/s² and deg/s) is a DataError naming its line, or with ``skip_bad`` left out and listed."""
    out = np.empty((len(rows), ncols))
    n, last_t = 0, -math.inf
    for lineno, line in rows:
        parts = line.split(",")
        problem = None
        if len(parts) != ncols:
            problem = f"expected {ncols} fields, got {len(parts)}"
        else:
            try:
                out[n] = [float(p) for p in parts]
            except ValueError:
                problem = f"not a number in {line.strip()[:60]!r}"
            else:
                problem = _row_problem(out[n].tolist(), last_t, scales)
        if problem:
            msg = f"{path}:{lineno}: {problem}"
            if not skip_bad:
                raise DataError(msg)
            problems.append(msg)
        else:
            last_t = out[n, 0]
            n += 1
    return out[:n]


MAX_TIME_S = 1e10                                   # |t| beyond this (year 2286 as Unix time) is no clock
MAX_ACCEL_MPS2 = 16 * 16 * STANDARD_GRAVITY_MPS2    # 16x the widest range of any supported chip (±16 g)
MAX_GYRO_DPS = 16 * 2000.0                          # 16x the widest gyro range (±2000 °/s)


def _row_problem(row: list[float], last_t: float, scales: tuple[float, float, float] = (1.0, 1.0, 1.0)
                 ) -> str | None:
    """What makes a sample row physically impossible, or None: a value that is not finite, a time
    out of range or not after the previous row's, an acceleration or rotation far beyond what any
    supported chip can measure (so the analysis never sees numbers it cannot compute with)."""
    if not all(map(math.isfinite, row)):
        return "value is not finite"
    t_scale, a_scale, g_scale = scales
    if abs(row[0] * t_scale) > MAX_TIME_S:
        return f"time {row[0]:g} is out of range (at most {MAX_TIME_S / t_scale:g})"
    if row[0] <= last_t:
        return f"time goes backwards or repeats ({last_t:.6f} then {row[0]:.6f})"
    if math.hypot(*row[1:4]) * a_scale > MAX_ACCEL_MPS2:
        return f"acceleration {math.hypot(*row[1:4]) * a_scale:.4g} m/s² is beyond any sensor (at most {MAX_ACCEL_MPS2:.0f})"
    if math.hypot(*row[4:7]) * g_scale > MAX_GYRO_DPS:
        return f"rotation {math.hypot(*row[4:7]) * g_scale:.4g} °/s is beyond any sensor (at most {MAX_GYRO_DPS:.0f})"
    return None


def _check_time(path: Path, t_s: np.ndarray) -> None:
    bad = np.flatnonzero(np.diff(t_s) <= 0)
    if len(bad):
        raise DataError(f"{path}: time goes backwards or repeats at data row {bad[0] + 2} "
                        f"(t_s {t_s[bad[0]]:.6f} then {t_s[bad[0] + 1]:.6f})")


def _text(p: Path, encoding: str) -> str:
    """The whole file as text, or a DataError saying why it cannot be read."""
    try:
        return p.read_text(encoding=encoding)
    except OSError as e:
        raise DataError(f"{p}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise DataError(f"{p}: not a text file") from None


def read_samples(path: str | os.PathLike, skip_bad_rows: bool = False
                 ) -> tuple[SessionMeta, SampleBlock, list[str]]:
    """Read a v1 samples file: (metadata, samples, problems skipped).

    Raises DataError naming the line for malformed input (unless ``skip_bad_rows``).
    """
    p = Path(path)
    lines = _text(p, "utf-8").split("\n")
    truncated = lines.pop() != ""          # no final newline: a write cut short by a crash
    if not lines or lines[0].strip() != FORMAT_MAGIC:
        raise DataError(f"{p}:1: not a hingemarch v1 samples file (first line should be "
                        f"{FORMAT_MAGIC!r}); use --columns to read a generic CSV")
    meta_lines, i = [], 0
    while i < len(lines) and lines[i].startswith("#"):
        meta_lines.append((i + 1, lines[i]))
        i += 1
    if i >= len(lines) or tuple(c.strip() for c in lines[i].split(",")) != COLUMNS:
        raise DataError(f"{p}:{i + 1}: expected the header {','.join(COLUMNS)}")
    meta = _parse_meta(p, meta_lines)
    problems = ["last line was cut short (crash mid-write?) and was ignored"] if truncated else []
    rows = [(j + 1, lines[j]) for j in range(i + 1, len(lines)) if lines[j].strip()]
    data = _parse_rows(p, rows, len(COLUMNS), skip_bad_rows, problems)
    _check_time(p, data[:, 0])
    return meta, SampleBlock(data[:, 0].copy(), data[:, 1:4].copy(), data[:, 4:7].copy()), problems


def is_regular_file(path: Path) -> bool:
    """True for a regular file (``lstat``: a symlink, FIFO or device is as good as absent)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def head_meta(samples: Path, max_lines: int = 50) -> dict:
    """The ``# key: value`` metadata on top of a v1 samples file, without reading the rest; {} for
    anything else, values that are not JSON left out."""
    meta: dict = {}
    if not is_regular_file(samples):
        return meta
    try:
        with open(samples, encoding="utf-8", errors="replace") as f:
            if f.readline().strip() != FORMAT_MAGIC:
                return meta
            for _ in range(max_lines):
                line = f.readline()
                if not line.startswith("#"):
                    break
                item = _meta_line(line)
                if item is None:
                    continue
                try:
                    meta[item[0]] = json.loads(item[1])
                except ValueError:
                    continue
    except OSError:
        pass
    return meta


def last_time_s(samples: Path) -> float | None:
    """``t_s`` of the last complete row of a samples file (read from its end)."""
    if not is_regular_file(samples):
        return None
    try:
        with open(samples, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL_BYTES))
            lines = f.read().split(b"\n")[:-1]     # the last piece has no newline: cut short, or empty
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return round(float(line.split(b",", 1)[0]), 3)
        except ValueError:
            continue
    return None


def sample_chunks(path: Path, chunk_rows: int = CHUNK_ROWS):
    """Time-ordered samples of a v1 file as (SampleBlock, rows skipped) of at most ``chunk_rows``;
    bad rows, a row cut short and time going backwards are skipped and counted (a report shows
    what it can). HingemarchError if it is not a v1 samples file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        if f.readline().strip() != FORMAT_MAGIC:
            raise HingemarchError(f"{path.name}: not a hingemarch v1 samples file")
        line = f.readline()
        while line.startswith("#"):
            line = f.readline()
        if tuple(c.strip() for c in line.split(",")) != COLUMNS:
            raise HingemarchError(f"{path.name}: expected the header {','.join(COLUMNS)}")
        last_t, rows, skipped = -math.inf, [], 0
        for line in f:
            if not line.endswith("\n"):      # the last row of a file still being written, or cut short
                skipped += 1
                break
            parts = line.split(",")
            try:
                row = [float(x) for x in parts]
            except ValueError:
                row = []
            if len(row) != len(COLUMNS) or _row_problem(row, last_t):
                skipped += bool(line.strip())
                continue
            last_t = row[0]
            rows.append(row)
            if len(rows) >= chunk_rows:
                yield _as_block(rows), skipped
                rows, skipped = [], 0
        if rows:
            yield _as_block(rows), skipped


def _as_block(rows: list) -> SampleBlock:
    a = np.asarray(rows)
    return SampleBlock(a[:, 0], a[:, 1:4], a[:, 4:7])


TIME_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
ACCEL_SCALE = {"mps2": 1.0, "g": STANDARD_GRAVITY_MPS2}
GYRO_SCALE = {"dps": 1.0, "radps": 180.0 / math.pi}


def read_generic_csv(path: str | os.PathLike, time_col: str, accel_cols: list[str],
                     gyro_cols: list[str], time_unit: str = "s", accel_unit: str = "mps2",
                     gyro_unit: str = "dps", skip_bad_rows: bool = False
                     ) -> tuple[SessionMeta, SampleBlock, list[str]]:
    """Read any CSV with a header row, given which columns hold time, accel and gyro and their units."""
    p = Path(path)
    for name, value, table in (("time unit", time_unit, TIME_SCALE), ("accel unit", accel_unit, ACCEL_SCALE),
                               ("gyro unit", gyro_unit, GYRO_SCALE)):
        if value not in table:
            raise DataError(f"{name} {value!r} is not one of {', '.join(table)}")
    if len(accel_cols) != 3 or len(gyro_cols) != 3:
        raise DataError("name three accelerometer and three gyroscope columns")
    text = _text(p, "utf-8-sig")
    body = [(n + 1, line) for n, line in enumerate(text.split("\n")) if line.strip() and not line.startswith("#")]
    if not text.endswith("\n") and body:
        body.pop()
    if not body:
        raise DataError(f"{p}: no header row")
    try:
        dialect = csv.Sniffer().sniff(body[0][1], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    header = [h.strip() for h in next(csv.reader([body[0][1]], dialect))]
    wanted = [time_col, *accel_cols, *gyro_cols]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(f"{p}:{body[0][0]}: no column named {', '.join(map(repr, missing))}; "
                        f"the header has {', '.join(header)}")
    idx = [header.index(c) for c in wanted]
    rows = []
    for lineno, line in body[1:]:
        cells = next(csv.reader([line], dialect))
        rows.append((lineno, ",".join(cells[i].strip() if i < len(cells) else "" for i in idx)))
    problems: list[str] = []
    data = _parse_rows(p, rows, 7, skip_bad_rows, problems,
                       (TIME_SCALE[time_unit], ACCEL_SCALE[accel_unit], GYRO_SCALE[gyro_unit]))
    t_s = (data[:, 0] - (data[0, 0] if len(data) else 0.0)) * TIME_SCALE[time_unit]
    _check_time(p, t_s)
    rate = 1.0 / float(np.median(np.diff(t_s))) if len(t_s) > 1 else 100.0
    meta = SessionMeta(sensor="generic-csv", nominal_rate_hz=round(rate, 3))
    return meta, SampleBlock(t_s, data[:, 1:4] * ACCEL_SCALE[accel_unit],
                             data[:, 4:7] * GYRO_SCALE[gyro_unit]), problems
