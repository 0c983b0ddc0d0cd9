"""Balance-sway measures of a 2-D trajectory (medio-lateral ML, antero-posterior AP), one window at a time.

Conventions follow the reference in tests/data/sway_reference/README.md (Quijoux et al. 2021) and
docs/sway.md: the window is centred on its own mean, moments use 1/N, spectra use Welch with 10 s segments.
Units carry through: positions in cm give cm, cm/s, cm^2; degrees give deg, deg/s, deg^2. Frequencies are Hz.
The helpers below take arrays already centred by :func:`check_trajectory`.
"""
from __future__ import annotations

import numpy as np
from scipy import signal, stats

from analysis.errors import DataError

WELCH_SEGMENT_S = 10.0        # Welch segment length; 50 % overlap, linear detrend, Hann window, nfft = N
SPECTRAL_BAND_HZ = (0.15, 5.0)  # inclusive band for every spectral measure
MIN_SPECTRAL_SEGMENTS = 2     # shorter windows (< 20 s by default) give NaN spectral measures


def check_trajectory(ml, ap, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Validate one window and return (ml, ap) as float arrays centred on their mean; else DataError."""
    if not np.isfinite(fs_hz) or fs_hz <= 0:
        raise DataError(f"sway: sampling rate must be a positive finite number of Hz, got {fs_hz!r}")
    try:
        ml, ap = np.asarray(ml, dtype=float), np.asarray(ap, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"sway: ML and AP must be numeric arrays ({exc})") from None
    if ml.ndim != 1 or ap.ndim != 1:
        raise DataError(f"sway: ML and AP must be 1-D, got shapes {ml.shape} and {ap.shape}")
    if ml.size != ap.size:
        raise DataError(f"sway: ML has {ml.size} samples but AP has {ap.size}; they must match")
    if ml.size < 3:
        raise DataError(f"sway: need at least 3 samples, got {ml.size}")
    bad = ~(np.isfinite(ml) & np.isfinite(ap))
    if bad.any():
        raise DataError(f"sway: {bad.sum()} sample(s) are NaN or infinite, first at index {np.argmax(bad)}")
    return ml - ml.mean(), ap - ap.mean()


def sampling_rate_hz(t_s) -> float:
    """Sampling rate of evenly spaced timestamps in seconds; DataError if they are not evenly spaced."""
    dt = np.diff(np.asarray(t_s, dtype=float))
    if dt.size == 0 or not np.all(np.isfinite(dt)) or np.any(dt <= 0):
        raise DataError("sway: timestamps must be finite, strictly increasing and at least two")
    step = np.median(dt)
    if np.max(np.abs(dt - step)) > 1e-3 * step:
        raise DataError(f"sway: timestamps are not evenly spaced (steps {dt.min():.6g}..{dt.max():.6g} s)")
    return float(1.0 / step)


def rms(x: np.ndarray) -> float:
    """Root mean square of a centred axis."""
    return float(np.sqrt(np.mean(x * x)))


def rms_radius(ml: np.ndarray, ap: np.ndarray) -> float:
    """Root mean square of the distance from the mean point."""
    return float(np.sqrt(np.mean(ml * ml + ap * ap)))


def mean_distance(ml: np.ndarray, ap: np.ndarray) -> float:
    """Mean distance from the mean point."""
    return float(np.mean(np.hypot(ml, ap)))


def axis_range(x: np.ndarray) -> float:
    """Maximum minus minimum of one axis."""
    return float(np.ptp(x))


def axis_path_length(x: np.ndarray) -> float:
    """Sum of absolute sample-to-sample steps along one axis."""
    return float(np.sum(np.abs(np.diff(x))))


def path_length(ml: np.ndarray, ap: np.ndarray) -> float:
    """Sum of 2-D sample-to-sample step lengths."""
    return float(np.sum(np.hypot(np.diff(ml), np.diff(ap))))


def ellipse_area_95(ml: np.ndarray, ap: np.ndarray) -> float:
    """95 % prediction-ellipse area (Schubert & Kirchner 2014) from the 1/N covariance."""
    n = ml.size
    det = np.mean(ml * ml) * np.mean(ap * ap) - np.mean(ml * ap) ** 2
    scale = stats.f.ppf(0.95, 2, n - 2) * 2.0 * (n - 1) * (n + 1) / (n * (n - 2))
    return float(np.pi * scale * np.sqrt(max(det, 0.0)))


def sway_area_per_s(ml: np.ndarray, ap: np.ndarray, fs_hz: float) -> float:
    """Area swept by the radius vector (sum of triangle areas) divided by (N-1)/fs."""
    swept = np.sum(np.abs(ml[:-1] * ap[1:] - ml[1:] * ap[:-1])) / 2.0
    return float(swept / ((ml.size - 1) / fs_hz))


def mean_frequency_hz(ml: np.ndarray, ap: np.ndarray, fs_hz: float) -> float:
    """Mean 2-D speed over the N-1 steps divided by 2 pi times the mean distance; NaN if still."""
    speed = path_length(ml, ap) / ((ml.size - 1) / fs_hz)
    dist = mean_distance(ml, ap)
    return float(speed / (2.0 * np.pi * dist)) if dist > 0 else float("nan")


def spectral_frequencies_hz(x: np.ndarray, fs_hz: float) -> tuple[float, float, float]:
    """(centroid, F50, F95) of one axis from its Welch PSD in the band; NaNs if too short or no power."""
    nperseg = int(round(WELCH_SEGMENT_S * fs_hz))
    nan = (float("nan"),) * 3
    if nperseg < 2 or x.size < MIN_SPECTRAL_SEGMENTS * nperseg:
        return nan
    f, p = signal.welch(x, fs=fs_hz, nperseg=nperseg, noverlap=nperseg // 2,
                        detrend="linear", nfft=x.size)
    tol = 1e-6 * fs_hz / x.size  # keep edge bins despite float rounding of fs
    band = (f >= SPECTRAL_BAND_HZ[0] - tol) & (f <= SPECTRAL_BAND_HZ[1] + tol)
    f, p = f[band], p[band]
    total = np.sum(p)
    if f.size == 0 or not total > 0:
        return nan
    share = np.cumsum(p) / total
    centroid = np.sqrt(np.sum(f * f * p) / total)
    return float(centroid), float(f[np.argmax(share >= 0.5)]), float(f[np.argmax(share >= 0.95)])


def sway_measures(ml, ap, fs_hz: float) -> dict[str, float]:
    """All sway measures of one window of ML and AP positions sampled at ``fs_hz``.

    Lengths are in the input unit U (cm in, cm out; deg in, deg out): ``rms_*``, ``mean_distance``,
    ``range_*``, ``path_length`` in U; ``mean_velocity*`` in U/s; ``ellipse_area_95`` in U^2;
    ``sway_area_per_s`` in U^2/s; ``*_hz`` in Hz, NaN when the window is shorter than 20 s (two Welch
    segments) or the axis has no power in 0.15-5 Hz. Raises DataError on malformed input.
    """
    ml, ap = check_trajectory(ml, ap, fs_hz)
    duration_s = ml.size / fs_hz
    length = path_length(ml, ap)
    cf_ml, f50_ml, f95_ml = spectral_frequencies_hz(ml, fs_hz)
    cf_ap, f50_ap, f95_ap = spectral_frequencies_hz(ap, fs_hz)
    return {
        "rms_ml": rms(ml),
        "rms_ap": rms(ap),
        "rms_radius": rms_radius(ml, ap),
        "mean_distance": mean_distance(ml, ap),
        "range_ml": axis_range(ml),
        "range_ap": axis_range(ap),
        "path_length": length,
        "mean_velocity_ml": axis_path_length(ml) / duration_s,
        "mean_velocity_ap": axis_path_length(ap) / duration_s,
        "mean_velocity": length / duration_s,
        "ellipse_area_95": ellipse_area_95(ml, ap),
        "sway_area_per_s": sway_area_per_s(ml, ap, fs_hz),
        "mean_frequency_hz": mean_frequency_hz(ml, ap, fs_hz),
        "centroid_frequency_ml_hz": cf_ml,
        "centroid_frequency_ap_hz": cf_ap,
        "f50_ml_hz": f50_ml,
        "f50_ap_hz": f50_ap,
        "f95_ml_hz": f95_ml,
        "f95_ap_hz": f95_ap,
    }
