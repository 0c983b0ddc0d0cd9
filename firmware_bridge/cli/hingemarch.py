"""The ``hingemarch`` command. Each subcommand lives in its own module beside this one, exposing
``configure(parser)`` and ``run(args) -> int``; this file only wires them and turns expected errors
into one line on stderr."""
from __future__ import annotations

import argparse
import importlib
import sys

from analysis.errors import HingemarchError
from firmware_bridge import __version__
from firmware_bridge.cli.flags import Parser

# name -> (module, one-line help). Order is the order shown in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("firmware_bridge.cli.demo", "stream a simulated workout through the live pipeline with a live view"),
    "analyze": ("firmware_bridge.cli.analyze", "count and measure the reps in a recorded session file"),
    "simulate": ("firmware_bridge.cli.simulate", "write a simulated workout session with its ground truth"),
    "probe": ("firmware_bridge.cli.probe", "scan the I2C bus, identify the IMU, show its settings and live samples"),
    "calibrate": ("firmware_bridge.cli.calibrate", "six-position accelerometer and gyro-bias calibration, stored in the state directory"),
    "run": ("firmware_bridge.cli.run", "count reps live from a sensor, simulation or recording; record and publish over MQTT"),
    "serve": ("firmware_bridge.cli.serve", "serve the sessions, reports and history from a sessions folder, no sensor needed"),
    "edit": ("firmware_bridge.cli.edit", "fix a set's count, delete a rep or a session, add a note, undo: kept beside the raw files"),
    "export": ("firmware_bridge.cli.export", "a session as a FIT strength-training activity, or an athlete's sets as one CSV"),
    "config": ("firmware_bridge.cli.config", "check the config file (one line per problem) or show the effective values"),
    "doctor": ("firmware_bridge.cli.doctor", "check I2C bus, sensor, broker, state folder and clock, and say what to fix"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI; only ``command``'s module is imported (and configured), so a command starts
    without loading what the others need. ``None`` imports them all (docs, tests)."""
    parser = Parser(
        prog="hingemarch",
        description="Rep counter for the single-leg hinge-and-march (and other leg exercises, --exercise), "
                    "from an IMU (or a phone) on the lifted leg.")
    parser.add_argument("--version", action="version", version=f"hingemarch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        if command is not None and name != command:
            sub.add_parser(name, help=help_text)
            continue
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip())
        mod.configure(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), "")
    args = build_parser(command if command in COMMANDS else "").parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except HingemarchError as e:
        for line in str(e).splitlines() or [type(e).__name__]:
            print(f"hingemarch {args.command}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hingemarch {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
