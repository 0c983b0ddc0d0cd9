"""Tables of numbers from the files phone apps export: CSV in any separator and decimal mark, and
.xlsx workbooks (a zip of XML, read with the standard library). Only the columns a reader picks are
converted; a bad row is a DataError naming its line, or with ``skip_bad`` left out and listed.
Used by :mod:`firmware_bridge.store.phone`, which owns what the columns mean."""
from __future__ import annotations

import csv
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from analysis.errors import DataError

MAX_ENTRY_BYTES = 2 << 30          # a file (or a zip member) larger than this, uncompressed, is refused


@dataclass
class Table:
    """The picked columns of a table: their names, in the file's order, and rows of numbers (nan where
    a cell is empty or NaN)."""

    name: str
    header: list[str]
    rows: np.ndarray


def _number(cell: str, decimal_comma: bool) -> float:
    cell = cell.strip()
    if decimal_comma:
        cell = cell.replace(",", ".")
    return math.nan if cell in ("", "NaN", "nan") else float(cell)


def parse_csv(name: str, text: str, pick, skip_bad: bool, problems: list[str]) -> Table:
    """The columns ``pick(header)`` names (indexes) of a CSV with a header row, separated by commas,
    semicolons or tabs, with a decimal point or (not with commas) a decimal comma; other columns are
    not read. A row without numbers there is a DataError naming its line, or with ``skip_bad`` left
    out and listed; a last row without its newline (cut short) is dropped."""
    lines = text.split("\n")
    if lines and lines.pop() != "":
        problems.append(f"{name}: last line was cut short and was ignored")
    body = [(n + 1, ln.rstrip("\r")) for n, ln in enumerate(lines) if ln.strip()]
    if not body:
        raise DataError(f"{name}: no header row")
    first = body[0][1]
    delimiter = max("\t;,", key=first.count)
    decimal_comma = delimiter != ","
    try:
        parsed = list(csv.reader((line for _, line in body), delimiter=delimiter))
    except csv.Error as e:
        raise DataError(f"{name}: not a CSV file ({e})") from None
    if len(parsed) != len(body):
        raise DataError(f"{name}: a quoted cell runs over more than one line: not an app's export")
    header = [h.strip() for h in parsed[0]]
    idx = pick(header)
    out = []
    for (lineno, line), cells in zip(body[1:], parsed[1:], strict=True):
        try:
            if len(cells) < len(header):
                raise ValueError(f"expected {len(header)} fields, got {len(cells)}")
            out.append([_number(cells[i], decimal_comma) for i in idx])
        except ValueError as e:
            why = str(e) if str(e).startswith("expected") else f"not a number in {line.strip()[:60]!r}"
            if not skip_bad:
                raise DataError(f"{name}:{lineno}: {why}") from None
            problems.append(f"{name}:{lineno}: {why}")
    return Table(name, [header[i] for i in idx], np.array(out, dtype=float).reshape(len(out), len(idx)))


# --- xlsx (phyphox's Excel export, or a copy saved by a spreadsheet): a zip of XML -------------------

_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
       "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
       "p": "http://schemas.openxmlformats.org/package/2006/relationships"}
_COL = re.compile(r"^([A-Z]+)")


def _column_index(ref: str | None, fallback: int) -> int:
    m = _COL.match(ref or "")
    if not m:
        return fallback
    n = 0
    for ch in m.group(1):
        n = n * 26 + ord(ch) - 64
    return n - 1


def parse_xlsx(path: Path, pick, skip_bad: bool, problems: list[str]) -> list[Table]:
    """The sheets of an .xlsx workbook as tables (first row the header), read with the standard
    library: inline strings, shared strings and numbers; cells placed by their reference if they have one."""
    try:
        z = zipfile.ZipFile(path)
        book = ElementTree.fromstring(z.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        shared = []
        if "xl/sharedStrings.xml" in z.namelist():
            for si in ElementTree.fromstring(z.read("xl/sharedStrings.xml")).findall("m:si", _NS):
                shared.append("".join(t.text or "" for t in si.iter(f"{{{_NS['m']}}}t")))
        targets = {r.get("Id"): r.get("Target") for r in rels.findall("p:Relationship", _NS)}
        tables = []
        for sheet in book.findall("m:sheets/m:sheet", _NS):
            target = targets.get(sheet.get(f"{{{_NS['r']}}}id"), "")
            member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            info = z.getinfo(member)
            if info.file_size > MAX_ENTRY_BYTES:
                raise DataError(f"{path}: sheet {sheet.get('name')!r} is larger than {MAX_ENTRY_BYTES >> 30} GiB")
            with z.open(info) as stream:
                tables.append(_sheet_table(f"{path}:{sheet.get('name')}", stream, shared, pick, skip_bad, problems))
        return tables
    except (KeyError, IndexError, ValueError, ElementTree.ParseError, zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path}: not a readable .xlsx workbook ({e})") from None


MAX_COLUMNS = 16384                # Excel's widest sheet (XFD): a cell reference beyond it is no sheet


def _sheet_rows(stream, shared: list[str]):
    """A worksheet's rows as lists of cell values (str or float; nan for an empty number), streamed
    (``iterparse``, each row cleared once read) so a long recording needs no whole XML tree."""
    m = f"{{{_NS['m']}}}"
    for _, row in ElementTree.iterparse(stream, events=("end",)):
        if row.tag != f"{m}row":
            continue
        cells: list[object] = []
        for c in row.findall(f"{m}c"):
            col = _column_index(c.get("r"), len(cells))
            if col >= MAX_COLUMNS:
                raise ValueError(f"cell {c.get('r')} is beyond any sheet")
            kind, v = c.get("t"), c.find(f"{m}v")
            if kind == "inlineStr":
                value: object = "".join(t.text or "" for t in c.iter(f"{m}t"))
            elif kind == "s" and v is not None:
                value = shared[int(v.text or 0)]
            elif kind == "str":
                value = v.text if v is not None else ""
            else:
                value = float(v.text) if v is not None and v.text else math.nan
            cells += [math.nan] * (col + 1 - len(cells))
            cells[col] = value
        row.clear()
        yield cells


def _sheet_table(name: str, stream, shared: list[str], pick, skip_bad: bool, problems: list[str]) -> Table:
    rows = _sheet_rows(stream, shared)
    first = next(rows, None)
    if first is None:
        raise DataError(f"{name}: no header row")
    header = [str(h).strip() for h in first]
    idx = pick(header)
    out = []
    for n, cells in enumerate(rows, start=2):
        cells = cells + [math.nan] * len(header)
        try:
            out.append([math.nan if isinstance(cells[i], str) and cells[i].strip() in ("", "NaN", "nan")
                        else float(cells[i]) for i in idx])
        except ValueError:
            if not skip_bad:
                raise DataError(f"{name}: row {n}: not a number") from None
            problems.append(f"{name}: row {n}: not a number")
    return Table(name, [header[i] for i in idx], np.array(out, dtype=float).reshape(len(out), len(idx)))
