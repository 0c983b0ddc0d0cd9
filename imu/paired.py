"""The optional second sensor: a chip on the standing leg's shank or the pelvis, on the same bus
at the other address, read alongside the lifted-leg sensor on the same session clock.

The lifted-leg chip drives everything (its blocks are the stream); after each of its blocks the
second chip's FIFO is read too and its samples wait in ``take_second()``. A second chip that stops
answering is retried in the background of the reads and never stops the first.
"""
from __future__ import annotations

from collections.abc import Iterator

from imu.i2c_source import I2cSource
from imu.samples import SampleBlock


class PairedSource:
    """Source protocol (imu.samples) for the lifted-leg chip, plus ``take_second()``."""

    def __init__(self, primary: I2cSource, second: I2cSource):
        self.primary, self.second = primary, second
        second.t0_s = primary.t0_s                # one session clock: times compare directly
        self.info, self.second_info = primary.info, second.info
        self._waiting: list[SampleBlock] = []

    @property
    def status(self) -> str:
        return self.primary.status

    def blocks(self) -> Iterator[SampleBlock]:
        try:
            for block in self.primary.blocks():
                more = self.second.poll()
                if len(more):
                    self._waiting.append(more)
                yield block
        finally:
            self.second.close()

    def take_second(self) -> SampleBlock:
        """The second chip's samples read since the last call (session times, may be empty)."""
        out, self._waiting = SampleBlock.concat(self._waiting), []
        return out

    def close(self) -> None:
        self.primary.close()
        self.second.close()
