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
* ``StagedOutputs``: the same for several output files and folders that must land together
  (``ra2 predict``'s predictions, landmarks, uncertainty, summary, overlays and masks): each is
  written to a temporary sibling, and all are renamed into place only once every one was written.
* ``staged_folder(out, command)``: the same for a whole output folder (a bundle, a cohort,
  a review site, a cross-validation, the demo).  The new folder carries ``ra2-output.json``,
  the record of the command that wrote it and of every file it wrote; ``check_replaceable``
  lets a command replace only an absent or empty folder, or one whose record names that
  command and lists everything in it.  A file name alone is no proof: anything else in the
  folder is foreign, and the folder is refused before any work, naming it.
* ``write_text`` / ``write_bytes`` / ``write_json`` / ``write_csv``: the one atomic
  writer of every text, JSON and CSV file the harness writes.

Every problem is a ``UsageError`` naming the path and what to do; where the caller names the
option or parameter the path came from, a ``ParameterError`` of that name.
"""
from __future__ import annotations

import json
import math
import os
import shutil
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


# ------------------------------------------------------------------ the atomic writers
def _missing_parents(path: Path) -> list[Path]:
    """The folders above ``path`` that do not exist yet, innermost first (a failed write removes them again)."""
    made, parent = [], path.parent
    while not parent.exists():
        made.append(parent)
        parent = parent.parent
    return made


def _remove_empty(folders) -> None:
    """Remove those of ``folders`` that are empty, deepest first: the parents a failed write made."""
    for p in sorted(set(folders), key=lambda p: len(p.parts), reverse=True):
        try:
            p.rmdir()
        except OSError:
            pass


def _open_to_others(folder: Path) -> None:
    """Give a folder from ``mkdtemp`` the mode ``mkdir`` would (its 0700 would hide the result from other users)."""
    umask = os.umask(0o22)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)


class StagedOutputs:
    """Output files and folders that land together, or not at all.

    ``file(path)`` gives a temporary sibling of ``path`` to write; ``folder(path)`` a temporary folder
    whose files go into ``path`` (a new folder is renamed into place whole; into an existing one its
    files are moved, beside the others there, and it lies inside that folder so that no rename crosses
    a mount point).  ``commit()`` renames every one of them into place, in the order they were asked
    for, only once all were written; ``discard()`` removes them and the parent folders they made, and
    leaves every earlier output exactly as it was.  As a context manager: committed when the block
    ends, discarded when it raises (``KeyboardInterrupt`` included, and a SIGTERM that a library
    swallowed: ``interrupts.check`` runs before the first rename).  A Ctrl-C or SIGTERM during the
    renames waits until the last one is done (``interrupts.held``): the outputs land together even then.
    """

    def __init__(self):
        self._staged: list[tuple[str, Path, Path, int]] = []   # (file | folder | into, temporary, final, mode)
        self._made: list[Path] = []                             # parent folders made for them

    def __enter__(self) -> "StagedOutputs":
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if kind is None:
            self.commit()
        else:
            self.discard()
        return False

    def _parent(self, path: Path) -> None:
        self._made += _missing_parents(path)
        path.parent.mkdir(parents=True, exist_ok=True)

    def file(self, path: str | Path, *, mode: int = 0o644, suffix: str = ".tmp") -> Path:
        """A temporary file beside ``path`` (its name ends with ``suffix``), renamed over ``path`` with
        ``mode`` at the commit."""
        path = Path(path)
        self._parent(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        os.close(fd)
        self._staged.append(("file", Path(tmp), path, mode))
        return Path(tmp)

    def folder(self, path: str | Path) -> Path:
        """A temporary folder whose files go into the folder ``path`` at the commit."""
        path = Path(path)
        if path.is_dir():
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path))
            self._staged.append(("into", tmp, path, 0))
        else:
            self._parent(path)
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
            _open_to_others(tmp)
            self._staged.append(("folder", tmp, path, 0))
        return tmp

    def commit(self) -> None:
        """Rename everything into place (after ``interrupts.check``); on a failure the rest is discarded."""
        try:
            interrupts.check()              # an interrupt a library swallowed must not commit anything
            with interrupts.held():         # a Ctrl-C waits until every output is in place
                self._commit()
        except BaseException:
            self.discard()
            raise

    def _commit(self) -> None:
        while self._staged:
            kind, tmp, path, mode = self._staged[0]
            if kind == "file":
                os.chmod(tmp, mode)
                os.replace(tmp, path)
            elif kind == "folder" and not path.exists():
                tmp.replace(path)
            else:                           # into an existing folder: file by file, beside what is there
                for p in sorted(tmp.iterdir()):
                    p.replace(path / p.name)
                tmp.rmdir()
            self._staged.pop(0)
        self._made = []                     # theirs now: a signal raised after this removes nothing

    def discard(self) -> None:
        """Remove what was staged and not committed, and the parent folders made for it."""
        for kind, tmp, _, _ in self._staged:
            if kind == "file":
                tmp.unlink(missing_ok=True)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
        self._staged = []
        _remove_empty(self._made)
        self._made = []


@contextmanager
def replacing(path: str | Path, *, mode: int = 0o644, suffix: str = ".tmp"):
    """Yield a temporary sibling of ``path`` to write; rename it over ``path`` if the block succeeds.

    The parent folder is created if missing.  On any exception (``KeyboardInterrupt``
    included, and a SIGTERM that a library swallowed: ``interrupts.check``) the temporary
    file is removed (and the parent folders it made) and ``path`` is left as it was.  ``suffix``
    ends the temporary name, for writers that insist on one (``suffix=".keras"``).
    """
    with StagedOutputs() as staged:
        yield staged.file(path, mode=mode, suffix=suffix)


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


# ------------------------------------------------------------------ folders swapped in whole
#: the record, in every folder a command swaps in whole, of the command and the files it wrote
RECORD = "ra2-output.json"
RECORD_FORMAT = "ra2-output"


def _entries(folder: Path) -> list[str]:
    """Every file, link and empty folder under ``folder``, relative, without following links."""
    found = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        links = [d for d in dirs if (Path(root) / d).is_symlink()]
        found += [(rel / name).as_posix() for name in files + links]
        if not dirs and not files and root != str(folder):
            found.append(rel.as_posix() + "/")
    return found


def _record(folder: Path, command: str | None) -> tuple[dict | None, str]:
    """The parsed record of ``folder`` (written by ``command``, or any command if None), or why not."""
    path = folder / RECORD
    if not path.is_file():
        return None, f"no {RECORD}"
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{RECORD} is unreadable ({exc.__class__.__name__})"
    if not isinstance(rec, dict) or rec.get("format") != RECORD_FORMAT:
        return None, f"{RECORD} is not a record of ours (format {rec.get('format') if isinstance(rec, dict) else '?'})"
    files, kept = rec.get("files"), rec.get("kept", [])
    if not (isinstance(rec.get("command"), str) and isinstance(files, list) and isinstance(kept, list)
            and all(isinstance(f, str) for f in files + kept)):
        return None, f"{RECORD} is damaged (its command, files or kept entries do not parse)"
    if command is not None and rec["command"] != command:
        return None, f"ra2 {rec['command']} wrote it, not ra2 {command}"
    return rec, ""


def written_by(folder: str | Path, command: str) -> bool:
    """Whether ``folder`` carries a whole record of ``ra2 <command>`` (``staged_folder``)."""
    return _record(Path(folder), command)[0] is not None


def _foreign(folder: Path, rec: dict) -> list[str]:
    """What in ``folder`` its record does not account for: not listed, not in a kept entry, and not in
    a subfolder that has a whole record of its own (an output of ours written inside another)."""
    listed_files, kept = set(rec["files"]) | {RECORD}, tuple(rec.get("kept", []))
    nested = {}
    out = []
    for rel in _entries(folder):
        if rel in listed_files or any(rel == k or rel.startswith(k.rstrip("/") + "/") for k in kept):
            continue
        parts = rel.rstrip("/").split("/")
        owner = next((("/".join(parts[:i])) for i in range(1, len(parts))
                      if "/".join(parts[:i]) in nested or (folder / "/".join(parts[:i]) / RECORD).is_file()), None)
        if owner is not None:
            if owner not in nested:
                sub, _ = _record(folder / owner, None)
                nested[owner] = None if sub is None else {f"{owner}/{x}" for x in _foreign(folder / owner, sub)}
            if nested[owner] is not None and rel not in nested[owner]:
                continue
        out.append(rel)
    return sorted(out)


def check_replaceable(out: str | Path, command: str, option: str | None = None) -> Path:
    """Refuse, before any work, a folder that ``staged_folder(out, command)`` may not replace.

    It may replace an absent or empty folder, or one an earlier ``ra2 <command>`` wrote: its
    ``ra2-output.json`` parses, names ``command``, and lists everything in the folder.  Anything
    else is refused (``UsageError``, exit 2), naming the folder and what in it is foreign.
    """
    from .errors import listed

    shown = Path(out)
    target = shown.expanduser()
    if target.exists() and not target.is_dir():
        raise _refused(option, shown, "is a file, not a folder; give a folder name")
    if not target.is_dir() or not any(target.iterdir()):
        return target
    rec, why = _record(target, command)
    if rec is None:
        entries = sorted(p.name + ("/" if p.is_dir() and not p.is_symlink() else "") for p in target.iterdir())
        raise _refused(option, shown, f"not a folder that ra2 {command} wrote ({why}); it holds "
                                      f"{listed(entries, 3)}: give a new or empty folder (nothing was changed)")
    foreign = _foreign(target, rec)
    if foreign:
        raise _refused(option, shown, f"holds files that ra2 {command} did not write ({listed(foreign, 3)}): "
                                      "move them away or give another folder (nothing was changed)")
    return target


@contextmanager
def staged_folder(out: str | Path, command: str, *, option: str | None = None, keep: tuple[str, ...] = ()):
    """Yield a new temporary folder beside ``out``; on success it replaces ``out`` whole.

    ``out`` must pass ``check_replaceable`` (checked first).  Before the swap the new folder gets
    its ``ra2-output.json`` listing every file in it, and the entries named in ``keep`` (say, a
    review site's saved corrections) are copied over from the earlier folder.  On any failure or
    interrupt the temporary folder is removed and ``out`` is left exactly as it was, and so are
    the parent folders: those this call made are removed again.
    """
    out = check_replaceable(out, command, option)
    made = _missing_parents(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        _open_to_others(tmp)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write there ({exc.strerror or exc})") from exc
    try:
        yield tmp
        for name in keep:
            if (out / name).is_dir():
                shutil.copytree(out / name, tmp / name, symlinks=True, dirs_exist_ok=True)
            elif (out / name).is_file():
                shutil.copy2(out / name, tmp / name)
        files = sorted(e for e in _entries(tmp) if e != RECORD
                       and not any(e == k or e.startswith(k + "/") for k in keep))
        write_json(tmp / RECORD, {"format": RECORD_FORMAT, "version": 1, "command": command, "files": files,
                                  "kept": list(keep)}, indent=1)
        interrupts.check()                  # an interrupt a library swallowed must not replace ``out``
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(made)                 # the parents this call created
        raise


def swap_in(new: Path, dest: Path) -> None:
    """Rename the folder ``new`` to ``dest``, replacing an earlier ``dest`` whole: that one is moved aside
    first and removed after, or put back if the rename fails.  A Ctrl-C or SIGTERM waits until the swap
    is done (``interrupts.held``; in the main thread)."""
    with interrupts.held(landed=dest):
        old = None
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            dest.replace(old / dest.name)
        try:
            new.replace(dest)
        except BaseException:
            if old is not None:
                (old / dest.name).replace(dest)
            raise
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)


def file_sha256(path) -> str:
    """The SHA-256 (hex) of a file's bytes, read in blocks (bundle checksums, review drafts, fold and
    evaluation records)."""
    import hashlib

    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
