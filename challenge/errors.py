"""Exceptions that the ``ra2`` command turns into one clear message and an exit code."""


class UsageError(Exception):
    """Bad input from the user (a missing folder, a bad option value): exit code 2."""


class TableError(UsageError):
    """A CSV file that cannot be used at all (unreadable, not a CSV, no Patient_ID column)."""
