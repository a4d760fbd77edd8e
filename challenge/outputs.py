"""Output paths: checked before any work, written atomically, never onto an input.

* ``check_output_file(path, option, inputs)``: the path can take a new file: it is not
  a folder, no part of it above is a file, the nearest existing folder above it is
  writable, and it is none of the command's input files (compared after resolving
  links, and by inode where both exist).  A missing parent folder is fine: the writers
  create it.  An existing file there that is not an input is replaced, atomically.
* ``check_output_folder(path, option, inputs)``: the same for an output folder; also
  not one of the input folders, nor (``replaced=True``: the folder is swapped in whole
  at the end) a folder holding any input.
* ``input_files(folder)``: the files of a challenge folder that commands read (images
  and the known CSV files), for the ``inputs`` of the checks above.
* ``replacing(path)``: a context manager giving a temporary sibling to write to; on
  success it is renamed over ``path``, on any failure (an interrupt included) removed.
* ``write_text`` / ``write_bytes`` / ``write_json`` / ``write_csv``: the one atomic
  writer of every text, JSON and CSV file the harness writes.

Every problem is a ``UsageError`` naming the path and what to do; where the caller names the
option or parameter the path came from, a ``ParameterError`` of that name.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from . import interrupts
from .errors import ParameterError, UsageError


def _refused(option: str | None, path: Path, rule: str) -> UsageError:
    """The error for ``path``: a ``ParameterError`` of ``option`` where there is one."""
    return ParameterError(option, path, rule) if option else UsageError(f"{path}: {rule}")


def _same_file(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _is_within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _nearest_existing(path: Path, option: str | None, shown: Path) -> Path:
    """The nearest existing folder above ``path``; refuses a file on the way."""
    for above in path.parents:
        if above.exists():
            if not above.is_dir():
                raise _refused(option, shown, f"{above} is a file, not a folder; "
                                              "give a path under a folder")
            return above
    return Path(path.anchor or "/")


def _probe_writable(folder: Path, option: str | None, shown: Path) -> None:
    """Create and remove a file in ``folder``: the only test that also holds for root and read-only mounts."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".ra2-write-check-", dir=folder)
    except OSError as exc:
        raise _refused(option, shown, f"cannot write in {folder} ({exc.strerror or exc}); "
                                      "give a path in a writable folder") from exc
    os.close(fd)
    os.unlink(tmp)


def _resolved(paths) -> list[Path]:
    return [Path(p).expanduser().resolve() for p in paths if p is not None]


def check_output_file(path: str | Path, option: str | None = None, inputs=()) -> Path:
    """Refuse, before any work, an output file path that cannot be written or is one of ``inputs``.

    ``inputs`` are the command's input files and folders: the output may be none of
    the files, and may lie in none of the folders.  Returns the resolved path.
    """
    shown = Path(path)
    if str(path) == "":
        raise _refused(option, '""', "an empty path; give a file name")
    target = shown.expanduser().resolve()
    if target.is_dir():
        raise _refused(option, shown, f"is a folder; give a file name (for example "
                                      f"{shown / 'out'}{shown.suffix or _suffix_hint(option)})")
    for inp in _resolved(inputs):
        if inp.is_dir() and _is_within(target, inp):
            raise _refused(option, shown, f"is inside the input folder {inp}; write it elsewhere")
        if _same_file(target, inp):
            raise _refused(option, shown, "is one of this command's input files; "
                                          "give another output path (nothing was written)")
    folder = _nearest_existing(target, option, shown)
    if target.exists() and not target.is_file():
        raise _refused(option, shown, "exists and is not a regular file; give another path")
    _probe_writable(folder, option, shown)
    return target


def _suffix_hint(option: str | None) -> str:
    return ".json" if option and ("json" in option or "summary" in option) else ".csv"


def check_output_folder(path: str | Path, option: str | None = None, inputs=(), *, replaced: bool = False) -> Path:
    """Refuse, before any work, an output folder that cannot be written or would touch an input.

    The folder may exist (its files are replaced) or not (it is created).  It may not
    be an input folder, nor, with ``replaced`` (the folder is swapped in whole at the
    end), hold an input at any depth.  Returns the resolved path.
    """
    shown = Path(path)
    if str(path) == "":
        raise _refused(option, '""', "an empty path; give a folder name")
    target = shown.expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise _refused(option, shown, "is a file, not a folder; give a folder name")
    for inp in _resolved(inputs):
        if target == inp or (inp.is_file() and _same_file(target, inp)):
            raise _refused(option, shown, "is an input of this command; give another output folder")
        if replaced and _is_within(inp, target):
            raise _refused(option, shown, f"holds the input {inp}, which replacing the folder would "
                                          "delete; give another output folder")
    folder = target if target.is_dir() else _nearest_existing(target, option, shown)
    _probe_writable(folder, option, shown)
    return target


def check_distinct(**paths) -> None:
    """Refuse two options naming the same output file (``--out x --landmarks-out x``)."""
    seen: dict[Path, str] = {}
    for option, p in paths.items():
        if p is None:
            continue
        key = Path(p).expanduser().resolve()
        name = "--" + option.replace("_", "-")
        if key in seen:
            raise UsageError(f"{seen[key]} and {name} name the same file {p}; give each its own path")
        seen[key] = name


def input_files(folder: str | Path) -> list[Path]:
    """The files of a challenge folder that commands read: its images and known CSV files (empty if no folder)."""
    from .dataset import KNOWN_FILES, parse_image_name

    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir()
            if p.is_file() and (parse_image_name(p.name) is not None or p.name.lower() in KNOWN_FILES)]


# ------------------------------------------------------------------ the atomic writer
@contextmanager
def replacing(path: str | Path, *, mode: int = 0o644, suffix: str = ".tmp"):
    """Yield a temporary sibling of ``path`` to write; rename it over ``path`` if the block succeeds.

    The parent folder is created if missing.  On any exception (``KeyboardInterrupt``
    included, and a SIGTERM that a library swallowed: ``interrupts.check``) the temporary
    file is removed and ``path`` is left as it was.  ``suffix``
    ends the temporary name, for writers that insist on one (``suffix=".keras"``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        interrupts.check()                  # an interrupt a library swallowed must not commit the file
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    with replacing(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def jsonable(obj):
    """Plain JSON types: numpy scalars/arrays, tuples, dataclasses, paths; NaN as null, infinity as "inf"."""
    from dataclasses import asdict, is_dataclass

    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(asdict(obj))
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def write_json(path: str | Path, obj, *, indent: int = 2) -> Path:
    return write_text(path, json.dumps(jsonable(obj), indent=indent) + "\n")


def write_csv(path: str | Path, frame) -> Path:
    """A pandas frame as CSV (no index, LF line ends)."""
    with replacing(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            frame.to_csv(fh, index=False, lineterminator="\n")
    return Path(path)
