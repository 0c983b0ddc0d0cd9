"""Blocks kept until there are enough buckets to measure at once: the stages that only report
(problems, the sway ring) do a dozen array operations a measurement, which cost the same for a
live block's 5 buckets as for 500."""
from __future__ import annotations

BATCH_BUCKETS = 500   # a batch is measured once it holds at least this many buckets (10 s at 50 Hz)


class Batches:
    """Columns of blocks, added in time order; ``take`` hands them back, chunk by chunk per column."""

    def __init__(self, size: int = BATCH_BUCKETS):
        self.size = size
        self._blocks: list[tuple] = []
        self._n = 0

    def add(self, n: int, *columns) -> bool:
        """One block of ``n`` buckets (nothing kept when ``n`` is 0); True once the batch is full."""
        if n:
            self._blocks.append(columns)
            self._n += n
        return self._n >= self.size

    def take(self) -> list[tuple]:
        """Per column, the chunks added since the last take ([] when none); the batch starts again."""
        blocks, self._blocks, self._n = self._blocks, [], 0
        return list(zip(*blocks))
