"""Exceptions that the ``ra2`` command turns into one clear message and an exit code, and the one
way a message lists many problems (``problem_lines``, ``listed``)."""

#: how many problems or names a message shows before "... and N more"
SHOWN = 10


class UsageError(Exception):
    """Bad input from the user (a missing folder, a bad option value): exit code 2."""


class TableError(UsageError):
    """A CSV file that cannot be used at all (unreadable, not a CSV, no Patient_ID column)."""


def problem_lines(problems, shown: int = SHOWN) -> str:
    """The first ``shown`` problems, one an indented line, then ``  ... and N more`` if there are others."""
    problems = list(problems)
    lines = [f"  {p}" for p in problems[:shown]]
    if len(problems) > shown:
        lines.append(f"  ... and {len(problems) - shown} more")
    return "\n".join(lines)


def listed(items, shown: int = SHOWN) -> str:
    """The first ``shown`` items on one line, ``a, b, c and N more`` if there are others."""
    items = list(items)
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(str(i) for i in items[:shown]) + more
