"""The session folder: the only code that writes or reads its files (docs/session-format.md)."""
