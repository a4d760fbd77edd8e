"""SIGTERM ends a command as Ctrl-C does, even where a library swallows the exception.

Python runs a signal handler between two bytecodes of the main thread.  When that moment falls
inside a weakref callback or a destructor (Keras runs many while it saves a model), the
``KeyboardInterrupt`` the handler raises is printed as "Exception ignored" and lost, and the
command would run on and finish as if never stopped.  So the handler also records the signal,
and ``check()`` raises it again: every training step, every image predicted and every staged
output just before it is committed calls it.  A lost interrupt therefore stops the command at
the next of those points, and never lets a result of the interrupted run replace an earlier one.

``held()`` keeps Ctrl-C and SIGTERM waiting for the few renames that put a command's outputs in
place, so that a signal cannot land between two of them and leave half the new outputs beside
half the old; the signal is delivered as soon as they are done, and ``landed()`` names the folders
that were swapped in meanwhile (so that the command's last words can say that its result is there).
"""
from __future__ import annotations

import signal
import sys
from contextlib import contextmanager

_pending: str | None = None
_landed: list[str] = []
_default_unraisable = sys.unraisablehook


def _on_signal(signum, frame):
    global _pending
    _pending = signal.Signals(signum).name
    raise KeyboardInterrupt(_pending)


def _quiet_unraisable(unraisable):
    """A swallowed interrupt is not a traceback for the user: ``check()`` will raise it again."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _pending is not None:
        return
    _default_unraisable(unraisable)


def install(signum: int = signal.SIGTERM) -> bool:
    """Make ``signum`` raise ``KeyboardInterrupt(<its name>)`` and be remembered; clears any earlier
    record.  False (and nothing changed) where signals cannot be handled: not the main thread."""
    global _pending, _default_unraisable
    try:
        signal.signal(signum, _on_signal)
    except ValueError:
        return False
    _pending = None
    if sys.unraisablehook is not _quiet_unraisable:
        _default_unraisable = sys.unraisablehook
        sys.unraisablehook = _quiet_unraisable
    return True


def pending() -> str | None:
    """The name of the signal received and not yet acted on, if any."""
    return _pending


def check() -> None:
    """Raise ``KeyboardInterrupt`` again if a signal was received (its first raise may have been lost)."""
    if _pending is not None:
        raise KeyboardInterrupt(_pending)


def clear() -> None:
    """Forget a received signal (after a command has ended on it, in a process that goes on)."""
    global _pending
    _pending = None
    _landed.clear()


def landed() -> list[str]:
    """The outputs ``held(landed=...)`` put in place while a signal waited (since ``clear``)."""
    return list(_landed)


@contextmanager
def held(signums=(signal.SIGINT, signal.SIGTERM), *, landed=None):
    """Within the block, ``signums`` are only recorded; once it has ended (however), each one received
    is raised again with the handler it had before, so the command stops as it would have, only later.
    ``landed``: the output the block puts in place, recorded (``landed()``) if it ends normally while a
    signal waits.  Outside the main thread (where no handler can be set) the block runs unguarded."""
    got: list[int] = []
    before = {}
    try:
        for s in signums:
            before[s] = signal.signal(s, lambda signum, frame: got.append(signum))
    except ValueError:                      # not the main thread
        for s, h in before.items():
            signal.signal(s, h)
        before = {}
    try:
        yield
        if got and landed is not None:
            _landed.append(str(landed))
    finally:
        for s, h in before.items():
            signal.signal(s, signal.SIG_DFL if h is None else h)   # None: a handler set outside Python
        for s in dict.fromkeys(got):
            signal.raise_signal(s)
