"""Config validation: defaults, every kind of problem on its own line, the shipped file matches."""
import tomllib
from pathlib import Path

import pytest

from firmware_bridge import config

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_config_equals_the_schema_defaults():
    raw = tomllib.loads((ROOT / "config" / "hingemarch.toml").read_text())
    assert config.validate(raw) == config.defaults()
    assert {s: set(t) for s, t in raw.items()} == {s: set(t) for s, t in config.SCHEMA.items()}


def test_every_problem_is_listed_once_with_a_suggestion():
    raw = {"sesion": {}, "session": {"placment": "thigh", "side": "middle"},
           "analysis": {"set_gap_s": "long", "min_hinge_deg": 5}}
    with pytest.raises(config.ConfigError) as e:
        config.validate(raw, "x.toml")
    problems = e.value.problems
    assert len(problems) == 5
    assert "x.toml: unknown section [sesion] (did you mean 'session'?)" in problems
    assert "x.toml: session.placment: unknown key (did you mean 'placement'?)" in problems
    assert any("session.side: 'middle' is not one of" in p for p in problems)
    assert any("analysis.set_gap_s: expected float, got str" in p for p in problems)
    assert any("analysis.min_hinge_deg: 5.0 is out of range 10.0..80.0 deg" in p for p in problems)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[session\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(tmp_path / "bad.toml")


def test_ints_are_accepted_for_floats_but_bools_are_not():
    assert config.validate({"analysis": {"set_gap_s": 30}})["analysis"]["set_gap_s"] == 30.0
    with pytest.raises(config.ConfigError, match="expected float, got bool"):
        config.validate({"analysis": {"set_gap_s": True}})
