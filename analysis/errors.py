"""The project's one exception tree. Each leaf also subclasses the builtin it resembles, so callers
can catch either; the CLI turns any :class:`HingemarchError` into one clear line, never a traceback."""


class HingemarchError(Exception):
    """Base of every error the project raises on purpose."""


class DataError(HingemarchError, ValueError):
    """Input data is malformed: says which file, which line and what is wrong."""
