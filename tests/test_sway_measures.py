"""Sway measures against a published reference (tests/data/sway_reference) and properties that must hold."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from analysis.errors import DataError
from analysis.sway.measures import sampling_rate_hz, sway_measures

REF_DIR = Path(__file__).parent / "data" / "sway_reference"

# reference JSON key -> our key
TIME_DOMAIN = {
    "rms_ML": "rms_ml",
    "rms_AP": "rms_ap",
    "rms_Radius": "rms_radius",
    "mean_distance_Radius": "mean_distance",
    "range_ML": "range_ml",
    "range_AP": "range_ap",
    "mean_velocity_ML": "mean_velocity_ml",
    "mean_velocity_AP": "mean_velocity_ap",
    "mean_velocity_ML_AND_AP": "mean_velocity",
    "confidence_ellipse_area_ML_AND_AP": "ellipse_area_95",
    "sway_area_per_second_ML_AND_AP": "sway_area_per_s",
    "mean_frequency_ML_AND_AP": "mean_frequency_hz",
}
SPECTRAL = {
    "centroid_frequency_Power_Spectrum_Density_ML": "centroid_frequency_ml_hz",
    "centroid_frequency_Power_Spectrum_Density_AP": "centroid_frequency_ap_hz",
    "power_frequency_50_Power_Spectrum_Density_ML": "f50_ml_hz",
    "power_frequency_95_Power_Spectrum_Density_AP": "f95_ap_hz",
}
SPECTRAL_KEYS = ["centroid_frequency_ml_hz", "centroid_frequency_ap_hz",
                 "f50_ml_hz", "f50_ap_hz", "f95_ml_hz", "f95_ap_hz"]


@pytest.fixture(scope="module")
def cop():
    data = np.loadtxt(REF_DIR / "cop_30s_100hz.csv", delimiter=",", skiprows=1)
    t_s, ml, ap = data.T
    return t_s, ml, ap, sampling_rate_hz(t_s)


@pytest.fixture(scope="module")
def reference():
    return json.loads((REF_DIR / "cop_30s_100hz.reference.json").read_text())


def test_reference_keys_are_all_checked(reference):
    assert set(reference) == set(TIME_DOMAIN) | set(SPECTRAL)


def test_sampling_rate_from_timestamps(cop):
    assert cop[3] == pytest.approx(100.0, rel=1e-9)


@pytest.mark.parametrize("ref_key", sorted(TIME_DOMAIN))
def test_time_domain_matches_reference(cop, reference, ref_key):
    _, ml, ap, fs = cop
    got = sway_measures(ml, ap, fs)[TIME_DOMAIN[ref_key]]
    assert got == pytest.approx(reference[ref_key], rel=1e-6, abs=0)


@pytest.mark.parametrize("ref_key", sorted(SPECTRAL))
def test_spectral_matches_reference_to_one_bin(cop, reference, ref_key):
    _, ml, ap, fs = cop
    got = sway_measures(ml, ap, fs)[SPECTRAL[ref_key]]
    assert abs(got - reference[ref_key]) <= fs / ml.size


def test_band_edges_survive_float_rounding_of_fs(cop):
    _, ml, ap, _ = cop
    exact = sway_measures(ml, ap, 100.0)
    jittered = sway_measures(ml, ap, 100.0 * (1 + 2e-14))  # as when fs comes from timestamps
    for key in SPECTRAL_KEYS:
        assert jittered[key] == pytest.approx(exact[key], rel=1e-9), key


def test_all_measures_present_and_finite_on_reference(cop):
    _, ml, ap, fs = cop
    m = sway_measures(ml, ap, fs)
    assert len(m) == 19
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
    assert m["path_length"] == pytest.approx(m["mean_velocity"] * ml.size / fs, rel=1e-12)


def test_pure_sinusoid_ml():
    fs, amp, f_hz = 100.0, 1.5, 1.0
    t = np.arange(3000) / fs  # 30 s: whole number of cycles
    ml = 4.0 + amp * np.sin(2 * np.pi * f_hz * t)  # offset removed by centring
    ap = 0.3 * np.sin(2 * np.pi * 0.4 * t)
    m = sway_measures(ml, ap, fs)
    assert m["rms_ml"] == pytest.approx(amp / math.sqrt(2), rel=1e-9)
    assert m["range_ml"] == pytest.approx(2 * amp, rel=1e-9)
    assert abs(m["f50_ml_hz"] - f_hz) <= fs / t.size
    assert abs(m["centroid_frequency_ml_hz"] - f_hz) <= 0.05
    assert abs(m["f50_ap_hz"] - 0.4) <= fs / t.size


def test_short_window_has_no_spectral_measures(cop):
    _, ml, ap, fs = cop
    n = int(19.9 * fs)
    m = sway_measures(ml[:n], ap[:n], fs)
    assert all(math.isnan(m[k]) for k in SPECTRAL_KEYS)
    assert all(math.isfinite(v) for k, v in m.items() if k not in SPECTRAL_KEYS)
    long_enough = sway_measures(ml[: int(20 * fs)], ap[: int(20 * fs)], fs)
    assert all(math.isfinite(long_enough[k]) for k in SPECTRAL_KEYS)


def test_rotation_by_90_degrees(cop):
    _, ml, ap, fs = cop
    a = sway_measures(ml, ap, fs)
    b = sway_measures(-ap, ml, fs)  # (ML, AP) rotated by +90 deg
    assert b["rms_ml"] == pytest.approx(a["rms_ap"], rel=1e-12)
    assert b["rms_ap"] == pytest.approx(a["rms_ml"], rel=1e-12)
    assert b["range_ml"] == pytest.approx(a["range_ap"], rel=1e-12)
    for key in ["rms_radius", "mean_distance", "path_length", "mean_velocity",
                "ellipse_area_95", "sway_area_per_s", "mean_frequency_hz"]:
        assert b[key] == pytest.approx(a[key], rel=1e-12), key


def test_still_trajectory_is_zero_not_an_error():
    m = sway_measures(np.full(2500, 1.0), np.full(2500, -2.0), 100.0)
    assert m["rms_radius"] == 0 and m["ellipse_area_95"] == 0 and m["path_length"] == 0
    assert math.isnan(m["mean_frequency_hz"]) and math.isnan(m["f50_ml_hz"])


@pytest.mark.parametrize("ml, ap, fs, words", [
    (np.zeros(10), np.zeros(9), 100.0, "samples but AP has"),
    (np.zeros(2), np.zeros(2), 100.0, "at least 3 samples"),
    (np.array([0.0, np.nan, 1.0, 2.0]), np.zeros(4), 100.0, "NaN"),
    (np.zeros(4), np.array([0.0, 1.0, np.inf, 2.0]), 100.0, "NaN or infinite"),
    (np.zeros(4), np.zeros(4), 0.0, "sampling rate"),
    (np.zeros((4, 2)), np.zeros((4, 2)), 100.0, "1-D"),
])
def test_bad_input_raises_one_line_data_error(ml, ap, fs, words):
    with pytest.raises(DataError) as info:
        sway_measures(ml, ap, fs)
    message = str(info.value)
    assert words in message and "\n" not in message


def test_uneven_timestamps_raise():
    with pytest.raises(DataError, match="evenly spaced"):
        sampling_rate_hz([0.0, 0.01, 0.02, 0.05])
