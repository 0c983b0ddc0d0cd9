"""Sensor and bus errors, in one place. Each is a HingemarchError (the CLI prints one line) and an
OSError (callers that already catch I/O errors keep working)."""
from __future__ import annotations

import errno as _errno

from analysis.errors import HingemarchError


class SensorError(HingemarchError, OSError):
    """Base of every sensor-side failure."""


class BusError(SensorError):
    """One I2C transaction failed (NACK, EIO, timeout). ``nack`` is True when the device did not
    acknowledge its address, so no byte was clocked out and the transaction is safe to repeat."""

    NACK_ERRNOS = (_errno.ENXIO, _errno.EREMOTEIO)

    def __init__(self, message: str, err: int | None = None):
        super().__init__(err or _errno.EIO, message)
        self.nack = err in self.NACK_ERRNOS

    def __str__(self) -> str:
        return self.strerror or super().__str__()


class BusOpenError(SensorError):
    """The bus device cannot be opened (missing /dev/i2c-N, no permission, unknown backend)."""


class SensorNotFound(SensorError):
    """No supported chip answered; the message lists what each probed address said."""


class SensorConfigError(HingemarchError, ValueError):
    """A requested range, rate or filter is not available on this chip."""


class PhoneError(SensorError):
    """A phone source that cannot be opened (its port is taken, its address is not a phone app's)."""
