"""Export recorded sessions, as edited (docs/session-format.md):

  --format fit   one session as a FIT strength-training activity (each set with its reps, start and
                 duration; rests between) for Garmin Connect, Strava and other apps that import FIT;
  --format csv   one row per set across every session of an athlete, for a spreadsheet: SESSION is
                 one of their sessions (its athlete, the sessions beside it) or a folder of sessions
                 with --athlete.

The file is written whole or not at all (a temp file renamed into place).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from analysis.errors import DataError
from firmware_bridge.store.export import fit_activity, sets_csv
from firmware_bridge.store.folder import SAMPLES
from firmware_bridge.store.view import athlete_views, session_view


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", metavar="SESSION", help="a session folder (csv: or a folder of sessions)")
    p.add_argument("--format", choices=("fit", "csv"), required=True)
    p.add_argument("--out", metavar="FILE", required=True, help="the file to write ('-': standard output, csv only)")
    p.add_argument("--athlete", metavar="NAME", help="csv: whose sessions (default: the athlete of SESSION)")


def run(args) -> int:
    path = Path(args.session).expanduser()
    is_session = (path / SAMPLES).is_file()
    if args.format == "fit":
        if not is_session:
            raise DataError(f"{path} is not a session folder (no {SAMPLES})")
        if args.out == "-":
            raise DataError("a FIT file is binary: give --out FILE")
        data = fit_activity(session_view(path))
    else:
        if not (is_session or path.is_dir()):
            raise DataError(f"{path} is neither a session folder nor a folder of sessions")
        athlete = args.athlete if args.athlete is not None else (session_view(path)["athlete"] if is_session else None)
        if athlete is None:
            raise DataError("with a folder of sessions, say whose: --athlete NAME")
        views = athlete_views(path.parent if is_session else path, athlete)
        if not views:
            raise DataError(f"no sessions of athlete {athlete!r} in {path.parent if is_session else path}")
        data = sets_csv(views).encode("utf-8")
        if args.out == "-":
            os.write(1, data)
            return 0
    out = Path(args.out).expanduser()
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, out)
    except OSError as e:
        raise DataError(f"cannot write {out}: {e.strerror or e}") from None
    print(f"wrote {out} ({len(data)} bytes)")
    return 0
