"""The live page's own files (web/static/): read once at start, served from memory with their
content types, and versioned by their content so a phone may cache them for a year."""
from __future__ import annotations

import hashlib
from pathlib import Path

FOLDER = Path(__file__).with_name("static")
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml"}


def load(folder: Path = FOLDER) -> tuple[dict[str, bytes], str]:
    """(file name -> content, version): the version changes whenever any file does."""
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in TYPES}
    version = hashlib.sha1(b"".join(files[k] for k in sorted(files))).hexdigest()[:10]
    return files, version
