"""What every command's flags share: numbers checked by the config's rule (finite, within stated
limits) and an argument error as one line naming the flag, exit status 2 (argparse's)."""
from __future__ import annotations

import argparse
import sys

from firmware_bridge.service.config import SCHEMA, number_problem


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (``--help`` shows the usage)."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def number(lo: float | None = None, hi: float | None = None, unit: str = "", whole: bool = False):
    """An argparse ``type=`` for a numeric flag: a finite number (a whole one if ``whole``, written
    in decimal or 0x hex) within ``lo..hi``; otherwise argparse says which flag and why."""
    def parse(text: str) -> float | int:
        try:
            value = int(text, 0) if whole else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {'whole ' if whole else ''}number: {text!r}") from None
        problem = number_problem(value, lo, hi, unit)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value
    parse.__name__ = "number"
    parse.limits = (lo, hi)          # for the test that --help states them as checked
    return parse


def config_number(section: str, name: str):
    """``number`` with the limits of the config key a flag overrides (``[section] name``)."""
    key = SCHEMA[section][name]
    return number(key.min, key.max, key.unit, whole=key.type is int)


SEED = number(0, 2**32 - 1, whole=True)      # a simulated workout's seed (numpy takes 0..2**32-1 here)
SPEED = number(0, 1000)                      # replay pace: 1 = recorded speed, 0 = as fast as possible
