"""One rule for numbers a person gives: every numeric flag of every command, every config value and
every sample row is finite and within its limits, or refused with one line (exit 2 for a command)
naming the flag, key or line; never a traceback."""
from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.errors import DataError
from firmware_bridge.cli.hingemarch import build_parser
from firmware_bridge.service import config
from firmware_bridge.store.samples import SessionMeta, read_generic_csv, read_samples, write_samples
from imu.samples import SampleBlock

CLI = [sys.executable, "-m", "firmware_bridge.cli.hingemarch"]


def _flags(parser: argparse.ArgumentParser, command: str = ""):
    """(command, flag, action) of every option of every command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _flags(sub, name)
        elif action.option_strings:
            yield command, action.option_strings[0], action


def test_every_numeric_flag_goes_through_the_one_rule():
    """No command parses a number with bare int/float (which lets nan, inf and any size through)."""
    bare = [(cmd, flag) for cmd, flag, a in _flags(build_parser()) if a.type in (int, float) and not a.choices]
    assert bare == []
    checked = {(cmd, flag) for cmd, flag, a in _flags(build_parser()) if getattr(a.type, "__name__", "") == "number"}
    assert {("analyze", "--set-gap-s"), ("simulate", "--seed"), ("run", "--rate-hz"), ("run", "--speed"),
            ("probe", "--address"), ("doctor", "--timeout"), ("calibrate", "--still-s")} <= checked


BAD = [
    (["simulate", "--seed", "-1"], "--seed", "-1 is out of range 0..4294967295"),
    (["simulate", "--rate-hz", "nan"], "--rate-hz", "nan is not a finite number"),
    (["simulate", "--sets", "0"], "--sets", "0 is out of range 1..50"),
    (["analyze", "x.csv", "--set-gap-s", "-5"], "--set-gap-s", "-5.0 is out of range 5.0..600.0 s"),
    (["analyze", "x.csv", "--set-gap-s", "nan"], "--set-gap-s", "nan is not a finite number"),
    (["run", "--rate-hz", "-5"], "--rate-hz", "-5.0 is out of range 12.5..1000.0 Hz"),
    (["run", "--rate-hz", "1e6"], "--rate-hz", "1000000.0 is out of range 12.5..1000.0 Hz"),
    (["run", "--speed", "inf"], "--speed", "inf is not a finite number"),
    (["run", "--seed", "1e3"], "--seed", "not a whole number: '1e3'"),
    (["demo", "--speed", "-1"], "--speed", "-1.0 is out of range 0.01..1000"),
    (["probe", "--address", "0x80"], "--address", "128 is out of range 0..127"),
    (["probe", "--bus", "-1"], "--bus", "-1 is out of range 0..31"),
    (["doctor", "--timeout", "1e308"], "--timeout", "1e+308 is out of range 0.1..60 s"),
    (["calibrate", "--timeout-s=-inf"], "--timeout-s", "-inf is not a finite number"),
]


@pytest.mark.parametrize("argv,flag,why", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_a_bad_number_is_one_line_naming_the_flag_and_exit_2(tmp_path, argv, flag, why):
    r = subprocess.run([*CLI, *argv], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"hingemarch {argv[0]}: error: argument {flag}: {why} (see --help)\n"


# --- sample rows ------------------------------------------------------------------------------------
def _session(path, n: int = 400):
    t = np.arange(n) / 100.0
    accel = np.tile([0.0, 0.0, 9.81], (n, 1))
    write_samples(path, SessionMeta(), SampleBlock(t, accel, np.zeros((n, 3))))
    return path


def _with_row(path, index: int, row: str):
    """The file with data row ``index`` replaced; the line number that row is on."""
    lines = path.read_text().split("\n")
    header = next(i for i, line in enumerate(lines) if line.startswith("t_s,"))
    lines[header + 1 + index] = row
    path.write_text("\n".join(lines))
    return header + 2 + index


BAD_ROWS = [
    ("1e18,0,0,9.81,0,0,0", "time 1e+18 is out of range"),
    ("1.5,1e308,0,9.81,0,0,0", "acceleration 1e+308 m/s² is beyond any sensor"),
    ("1.5,0,0,9.81,0,-1e308,0", "rotation 1e+308 °/s is beyond any sensor"),
    ("1.5,0,0,9.81,40000,0,0", "rotation 4e+04 °/s is beyond any sensor"),
    ("0.5,0,0,9.81,0,0,0", "time goes backwards or repeats"),
    ("1.5,nan,0,9.81,0,0,0", "value is not finite"),
    ("1.5,0,0,inf,0,0,0", "value is not finite"),
    ("1.5,0,0,9.81,0,0", "expected 7 fields, got 6"),
    ("1.5,0,0,x,0,0,0", "not a number"),
]


@pytest.mark.parametrize("row,why", BAD_ROWS)
def test_a_bad_sample_row_names_its_line_or_is_skipped(tmp_path, row, why):
    path = _session(tmp_path / "samples.csv")
    line = _with_row(path, 150, row)
    with pytest.raises(DataError) as e:
        read_samples(path)
    assert str(e.value).startswith(f"{path}:{line}: {why}") and "\n" not in str(e.value)
    _, block, problems = read_samples(path, skip_bad_rows=True)
    assert len(block) == 399 and len(problems) == 1 and problems[0].startswith(f"{path}:{line}: {why}")


def test_analyze_says_which_row_is_impossible_and_skips_it_when_asked(tmp_path):
    path = _session(tmp_path / "samples.csv", 3000)
    line = _with_row(path, 1000, "10.0,0,0,9.81,1e308,0,0")
    r = subprocess.run([*CLI, "analyze", str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"hingemarch analyze: error: {path}:{line}: rotation 1e+308 °/s")
    r = subprocess.run([*CLI, "analyze", str(path), "--skip-bad-rows", "--json"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and f"{path}:{line}: rotation" in r.stdout and "Traceback" not in r.stderr


def test_generic_csv_limits_are_in_its_own_units(tmp_path):
    """A Unix time in microseconds is a sane time; 16 g in g is not beyond any sensor."""
    path = tmp_path / "g.csv"
    path.write_text("t,ax,ay,az,gx,gy,gz\n" + "".join(
        f"{1.7e15 + i * 1e4:.0f},0,0,16,0,0,{i % 3}\n" for i in range(50)) + "1.8e16,0,0,1,0,0,0\n")
    cols = ("t", ["ax", "ay", "az"], ["gx", "gy", "gz"])
    _, block, problems = read_generic_csv(path, *cols, time_unit="us", accel_unit="g", skip_bad_rows=True)
    assert len(block) == 50 and len(problems) == 1 and "time 1.8e+16 is out of range" in problems[0]


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20))
cells = st.one_of(numbers.map(repr), st.text(alphabet="0123456789.eE+-naifx ,", max_size=12))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(cells, min_size=5, max_size=8).map(",".join), max_size=20),
       skip=st.booleans())
def test_read_samples_raises_nothing_but_data_error(tmp_path_factory, rows, skip):
    path = tmp_path_factory.mktemp("rows") / "samples.csv"
    _session(path, 3)
    path.write_text(path.read_text() + "\n".join(rows) + "\n")
    try:
        _, block, _ = read_samples(path, skip)
    except DataError as e:
        assert "\n" not in str(e)
        return
    assert np.all(np.isfinite(block.t_s)) and np.all(np.diff(block.t_s) > 0)
    assert np.all(np.abs(block.accel_mps2) < 3000) and np.all(np.abs(block.gyro_dps) < 40000)


# --- config values ----------------------------------------------------------------------------------
json_values = st.recursive(st.none() | st.booleans() | numbers | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=8)
keys = st.sampled_from([(s, k) for s in config.SCHEMA for k in config.SCHEMA[s]])


@settings(max_examples=300, deadline=None)
@given(items=st.lists(st.tuples(keys, json_values), max_size=6), extra=st.dictionaries(st.text(max_size=8), json_values, max_size=2))
def test_config_validate_raises_nothing_but_config_error(items, extra):
    raw: dict = dict(extra)
    for (section, key), value in items:
        if isinstance(raw.get(section), dict):
            raw[section][key] = value
        else:
            raw[section] = {key: value}
    try:
        cfg = config.validate(raw, "x.toml")
    except config.ConfigError as e:
        assert all("\n" not in p for p in e.problems)
        return
    for section in config.SCHEMA:
        for key, spec in config.SCHEMA[section].items():
            value = getattr(getattr(cfg, section), key)
            if spec.type is float:
                assert math.isfinite(value)
            if spec.min is not None and spec.type in (int, float):
                assert spec.min <= value <= spec.max


def test_help_states_each_numeric_flags_limits_as_checked():
    stated = re.compile(r"(-?[\d.]+(?:e[+-]?\d+)?)\.\.(-?[\d.]+(?:e[+-]?\d+)?)")
    for cmd, flag, action in _flags(build_parser()):
        if getattr(action.type, "__name__", "") != "number":
            continue
        found = stated.search(action.help or "")
        assert found, f"{cmd} {flag}: --help does not say its limits"
        assert tuple(map(float, found.groups())) == tuple(map(float, action.type.limits)), (cmd, flag)
