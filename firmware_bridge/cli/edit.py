"""Edit a recorded session afterwards: fix a set's count, delete a false rep, add a note, delete the
session, or undo the latest edit. Edits go to the session's edits.json; the raw files (samples.csv,
reps.csv, sets.csv, summary.json) are never rewritten. The report, history and exports show the
edited values, marked. The same edits are on the session's web page (docs/dashboard.md).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from analysis.errors import DataError
from firmware_bridge.store.edits import undo_edit
from firmware_bridge.store.folder import SAMPLES
from firmware_bridge.store.view import edit_session, session_view


def _pair(sep: str, what: str):
    def parse(text: str) -> tuple[int, int]:
        a, _, b = text.partition(sep)
        if not (a.isdigit() and b.isdigit()):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return int(a), int(b)
    return parse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", metavar="SESSION", help="the session folder")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--set-count", type=_pair("=", "SET=REPS, e.g. 2=11"), metavar="SET=REPS",
                      help="the count of set SET is REPS (0..1000)")
    what.add_argument("--delete-rep", type=_pair(".", "SET.REP, e.g. 2.5"), metavar="SET.REP",
                      help="rep REP of set SET was not a rep")
    what.add_argument("--note", metavar="TEXT", help="add a note (at most 2000 characters)")
    what.add_argument("--delete-session", action="store_true",
                      help="delete the session: hidden from the sessions list and the history (undo brings it back)")
    what.add_argument("--undo", action="store_true", help="undo the latest edit")
    what.add_argument("--show", action="store_true", help="print the session as edited (JSON)")
    p.add_argument("--yes", action="store_true", help="with --delete-session: confirm it")


def run(args) -> int:
    folder = Path(args.session).expanduser()
    if not (folder / SAMPLES).is_file():
        raise DataError(f"{folder} is not a session folder (no {SAMPLES})")
    if args.show:
        view = session_view(folder)
        print(json.dumps({k: view[k] for k in ("totals", "sides", "sets", "notes", "edited", "deleted", "edits")},
                         indent=2))
        return 0
    if args.undo:
        edit = undo_edit(folder)
        print(f"undone: {json.dumps({k: v for k, v in edit.items() if k not in ('undone_utc',)})}")
        return 0
    if args.set_count:
        body = {"kind": "set_count", "set_index": args.set_count[0], "reps": args.set_count[1]}
    elif args.delete_rep:
        body = {"kind": "delete_rep", "set_index": args.delete_rep[0], "rep_in_set": args.delete_rep[1]}
    elif args.note is not None:
        body = {"kind": "note", "text": args.note}
    else:
        if not args.yes:
            raise DataError("deleting a session needs --yes (it can be undone with --undo)")
        body = {"kind": "delete_session", "confirm": "delete"}
    edit = edit_session(folder, body)
    view = session_view(folder)
    print(f"edit {edit['id']} saved: {view['totals']['reps']} reps in {view['totals']['sets']} sets as edited"
          + (" (session deleted)" if view["deleted"] else ""))
    return 0
