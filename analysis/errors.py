"""The project's one exception tree. Each leaf also subclasses the builtin it resembles, so callers
can catch either; the CLI turns any :class:`HingemarchError` into one clear line, never a traceback."""


class HingemarchError(Exception):
    """Base of every error the project raises on purpose."""


class DataError(HingemarchError, ValueError):
    """Input data is malformed: says which file, which line and what is wrong."""


def one_line(e: Exception) -> str:
    """An error whose message runs over several lines (a sensor search: what each address said) on
    one line, for a log line or a check result."""
    first, *rest = [line.strip() for line in str(e).splitlines()] or [""]
    return " ".join([first, "; ".join(rest)]).strip()
