"""Exceptions that the ``ra2`` command turns into one clear message and an exit code, and the one
way a message lists many problems (``problem_lines``, ``listed``)."""

#: how many problems or names a message shows before "... and N more"
SHOWN = 10


class UsageError(Exception):
    """Bad input from the user (a missing folder, a bad option value): exit code 2."""


class TableError(UsageError):
    """A CSV file that cannot be used at all (unreadable, not a CSV, no Patient_ID column)."""


class ParameterError(UsageError, ValueError):
    """A parameter given a value it cannot take, named as the function that refuses it names it.

    The message reads ``size_scale=9.0: must be between 0.05 and 4``; a name that is already a
    command-line option (``--out``) reads ``--out DIR: ...``.  The ``ra2`` command shows a library
    parameter under its own option (``for_option``): ``--size-scale 9.0: must be ...``.
    """

    def __init__(self, name: str, value, rule: str):
        self.name, self.value, self.rule = name, value, rule
        super().__init__(f"{name}{' ' if name.startswith('-') else '='}{value}: {rule}")

    def for_option(self, option: str) -> str:
        """The message with the parameter spelled as the command-line ``option``."""
        return f"{option} {self.value}: {self.rule}"


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
