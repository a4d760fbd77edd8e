"""``ra2 download``: fetch the RA2 challenge files from Synapse into the layout the harness reads.

    DEST/train/{Patient_ID}-{LH|RH|LF|RF}.jpg   DEST/train/training.csv
    DEST/test/{Patient_ID}-{LH|RH|LF|RF}.jpg    DEST/test/template.csv
    DEST/other/...                              every other file, under its Synapse folder path

The split of an image comes from the Synapse folder it sits in (a folder whose name
contains "train" or "test"); ``training.csv`` and ``template.csv`` go to their split
whatever their folder.

Credentials come from the ``SYNAPSE_AUTH_TOKEN`` environment variable (a personal
access token) or, failing that, from the user's Synapse configuration file
(``~/.synapseConfig``); they are never taken on the command line and never logged.

Every file is downloaded into ``DEST/.ra2-download/`` first, its MD5 checked against
the one Synapse records, and only then renamed into place, so a file under its final
name is always complete.  A file already in place with the right MD5 is skipped, so
an interrupted run is resumed by running the same command again.

The Synapse client is a boundary: ``download(..., client=...)`` takes any object with
the ``synapseclient.Synapse`` methods used here (``login``, ``get``, ``getChildren``),
which is how the tests drive every failure without a network.  Errors are classified
by the names of the client's exception classes, so no Synapse import is needed for that.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from challenge.dataset import parse_image_name
from challenge.errors import ParameterError, UsageError

log = logging.getLogger(__name__)

#: The public RA2 DREAM challenge project on Synapse; its data folders need an approved data-use request.
DEFAULT_ENTITY = "syn20545111"
TOKEN_VARIABLE = "SYNAPSE_AUTH_TOKEN"
CONFIG_FILE = Path("~/.synapseConfig")
STAGING = ".ra2-download"
_SYN_ID = re.compile(r"^syn\d+$")
_CONTAINER_TYPES = ("org.sagebionetworks.repo.model.Project", "org.sagebionetworks.repo.model.Folder")
_FOLDER_TYPE = "org.sagebionetworks.repo.model.Folder"
_FILE_TYPE = "org.sagebionetworks.repo.model.FileEntity"


# ------------------------------------------------------------------ errors, one exit code each
class DownloadError(Exception):
    """A download that cannot go on; ``exit_code`` tells which kind."""

    exit_code = 1


class NoCredentials(DownloadError):
    exit_code = 3


class CredentialsRefused(DownloadError):
    exit_code = 4


class AccessNotGranted(DownloadError):
    exit_code = 5


class EntityNotFound(DownloadError):
    exit_code = 6


class NetworkUnreachable(DownloadError):
    exit_code = 7


class DiskFull(DownloadError):
    exit_code = 8


class ChecksumMismatch(DownloadError):
    exit_code = 9


EXIT_CODES = {cls.exit_code: cls.__name__ for cls in
              (DownloadError, NoCredentials, CredentialsRefused, AccessNotGranted, EntityNotFound,
               NetworkUnreachable, DiskFull, ChecksumMismatch)}

NO_CREDENTIALS_MESSAGE = (f"no Synapse credentials: set {TOKEN_VARIABLE} to a Synapse personal access token "
                          f"(synapse.org > Account Settings > Personal Access Tokens) or create {CONFIG_FILE} "
                          "with an [authentication] section holding authtoken = <token>")

_NETWORK_CLASS_NAMES = {"ConnectionError", "ConnectError", "ConnectTimeout", "Timeout", "TimeoutError",
                        "ReadTimeout", "TransportError", "NetworkError", "SynapseTimeoutError", "gaierror"}


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status of a ``SynapseHTTPError`` (from its response, else its '403 Client Error' text)."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status
    m = re.match(r"\s*(\d{3})\b", str(exc))
    return int(m.group(1)) if m else None


def classify(exc: BaseException, entity: str, *, token_source: str = "") -> DownloadError | None:
    """The ``DownloadError`` for an exception raised by the Synapse client or the file system,
    or None when it is not one of the known kinds."""
    names = _class_names(exc)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"disk full while writing {exc.filename or 'the download'}: free some space and run "
                        "the same command again (finished files are kept)")
    if "SynapseNoCredentialsError" in names:
        return NoCredentials(NO_CREDENTIALS_MESSAGE)
    refused = (f"Synapse refused the credentials{token_source}: the token may be expired or revoked or lack "
               "the view/download scopes; create a new personal access token")
    if "SynapseAuthenticationError" in names:
        return CredentialsRefused(refused)
    access = (f"access to {entity} is not granted to this account: the RA2 data needs an approved data-use "
              f"request; request access at https://www.synapse.org/#!Synapse:{entity} and run again")
    if "SynapseUnmetAccessRestrictions" in names or "SynapseAuthorizationError" in names:
        return AccessNotGranted(access)
    if "SynapseNotFoundError" in names:
        return EntityNotFound(f"Synapse entity {entity} does not exist (check the Synapse ID)")
    if "SynapseMd5MismatchError" in names:
        return ChecksumMismatch(f"{entity}: the downloaded file does not match its MD5 on Synapse; "
                                "run the same command again to retry")
    if "SynapseHTTPError" in names:
        status = _http_status(exc)
        if status == 401:
            return CredentialsRefused(refused)
        if status == 403:
            return AccessNotGranted(access)
        if status == 404:
            return EntityNotFound(f"Synapse entity {entity} does not exist (check the Synapse ID)")
        return DownloadError(f"Synapse answered HTTP {status or '?'} for {entity}: {str(exc).splitlines()[0]}")
    if names & _NETWORK_CLASS_NAMES or (isinstance(exc, OSError) and exc.errno in
                                        (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED)):
        return NetworkUnreachable(f"cannot reach Synapse (www.synapse.org) for {entity}: check the network "
                                  f"connection or proxy settings ({type(exc).__name__})")
    return None


# ------------------------------------------------------------------ credentials and client
def credentials(env=None, config_path: str | Path | None = None) -> tuple[str | None, str]:
    """(token, where it came from).  The token is None when the configuration file is to be used.

    Raises ``NoCredentials`` when neither the environment variable nor the file is there, and
    ``UsageError`` naming the file when it is there but cannot be read: the Synapse client reads it
    even when the token is set, and would fail with a traceback.
    """
    env = os.environ if env is None else env
    config = Path(config_path if config_path is not None else CONFIG_FILE).expanduser()
    try:
        mode = config.stat().st_mode
    except OSError:                     # not there (or not reachable, which the client takes the same way)
        mode = None
    if mode is not None and stat.S_ISREG(mode):
        check_config_file(config)
    token = (env.get(TOKEN_VARIABLE) or "").strip()
    if token:
        return token, f" (from {TOKEN_VARIABLE})"
    if mode is None:
        raise NoCredentials(NO_CREDENTIALS_MESSAGE)
    if not stat.S_ISREG(mode):
        raise UsageError(f"{config}: is {'a folder' if stat.S_ISDIR(mode) else 'not a regular file'}, not the "
                         "Synapse configuration file: remove it or make it a file with an [authentication] "
                         f"section holding authtoken = <token>, or set {TOKEN_VARIABLE}")
    return None, f" (from {config})"


def check_config_file(config: Path) -> None:
    """Raise ``UsageError`` naming the Synapse configuration file when the client could not read it (no read
    permission, not UTF-8 text, not an INI file).  The message never quotes the file: it holds the token."""
    import configparser

    fix = f"fix or remove it, or set {TOKEN_VARIABLE}"
    try:
        text = config.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{config}: the Synapse configuration file is not UTF-8 text (byte {exc.start}); "
                         f"{fix}") from None
    except OSError as exc:
        raise UsageError(f"{config}: the Synapse configuration file cannot be read "
                         f"({exc.strerror or type(exc).__name__}); {fix}") from None
    try:
        configparser.RawConfigParser().read_string(text, source=str(config))
    except configparser.Error as exc:
        errors = getattr(exc, "errors", None)
        line = getattr(exc, "lineno", None) or (errors[0][0] if errors else None)
        where = f" at line {line}" if line else ""
        raise UsageError(f"{config}: the Synapse configuration file is not an INI file ([section] headers and "
                         f"key = value lines){where}; {fix}") from None


def synapse_client(config_path: str | Path | None = None):
    """A real ``synapseclient.Synapse`` (imported here: it is an optional, slow-to-import dependency),
    reading ``config_path`` (default ``~/.synapseConfig``)."""
    try:
        import synapseclient
    except ImportError as exc:
        raise UsageError("ra2 download needs synapseclient: pip install 'ra2-harness[download]'") from exc
    where = {} if config_path is None else {"configPath": str(Path(config_path).expanduser())}
    client = synapseclient.Synapse(skip_checks=True, silent=True, **where)
    check_reachable(client.repoEndpoint)
    return client


def check_reachable(url: str, timeout: float = 15.0) -> None:
    """Fail fast with ``NetworkUnreachable`` when Synapse's server cannot be reached directly (the
    client itself retries for minutes).  Skipped behind a proxy, which a direct probe cannot use."""
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return
    host = urlparse(url).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as exc:
        raise NetworkUnreachable(f"cannot reach Synapse ({host}): check the network connection or proxy "
                                 f"settings ({exc.strerror or type(exc).__name__})") from exc


# ------------------------------------------------------------------ where each file goes
@dataclass(frozen=True)
class RemoteFile:
    syn_id: str
    folders: tuple[str, ...]    # Synapse folder names from the entity down to the file
    name: str


def split_of(folders: tuple[str, ...]) -> str | None:
    """'train' or 'test' from the innermost folder whose name says so, else None."""
    for folder in reversed(folders):
        low = folder.lower()
        if "train" in low:
            return "train"
        if "test" in low:
            return "test"
    return None


def local_path(remote: RemoteFile) -> Path:
    """Where a Synapse file goes, relative to the destination folder."""
    low = remote.name.lower()
    if low == "training.csv":
        return Path("train", "training.csv")
    if low == "template.csv":
        return Path("test", "template.csv")
    split = split_of(remote.folders)
    if split is not None and parse_image_name(remote.name) is not None:
        return Path(split, remote.name)
    return Path("other", *remote.folders, remote.name)


def _field(entity, key, default=None):
    try:
        value = entity[key]
    except (KeyError, TypeError, IndexError):
        return default
    return default if value is None else value


def walk(client, entity: str, folders: tuple[str, ...] = ()):
    """Every file under a project or folder (depth first, in the client's order) as ``RemoteFile``."""
    for child in client.getChildren(entity, includeTypes=["folder", "file"]):
        kind = _field(child, "type", "")
        if kind == _FOLDER_TYPE:
            yield from walk(client, child["id"], folders + (child["name"],))
        elif kind == _FILE_TYPE:
            yield RemoteFile(child["id"], folders, child["name"])


# ------------------------------------------------------------------ one file
def file_md5(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "md5").hexdigest()


def _up_to_date(path: Path, md5: str | None, size: int | None) -> bool:
    if not path.is_file():
        return False
    if md5:
        return file_md5(path) == md5.lower()
    return size is not None and path.stat().st_size == size


def fetch(client, remote: RemoteFile, dest: Path) -> str:
    """Download one file into place unless it is already there; 'skipped' or 'downloaded'."""
    target = dest / local_path(remote)
    meta = client.get(remote.syn_id, downloadFile=False)
    md5, size = _field(meta, "md5"), _field(meta, "fileSize")
    if _up_to_date(target, md5, size):
        return "skipped"
    if size is not None and shutil.disk_usage(dest).free < int(size):
        raise DiskFull(f"disk full: {remote.name} ({remote.syn_id}) needs {int(size) / 1e6:.1f} MB and "
                       f"{dest} has {shutil.disk_usage(dest).free / 1e6:.1f} MB free")
    staging = dest / STAGING / remote.syn_id
    staging.mkdir(parents=True, exist_ok=True)
    try:
        got = client.get(remote.syn_id, downloadLocation=str(staging), ifcollision="overwrite.local")
        path = Path(got.path)
        if md5 and file_md5(path) != md5.lower():
            raise ChecksumMismatch(f"{remote.name} ({remote.syn_id}): MD5 of the downloaded file is "
                                   f"{file_md5(path)}, Synapse records {md5}; the file was discarded, "
                                   "run the same command again to retry")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return "downloaded"


# ------------------------------------------------------------------ the whole download
@dataclass
class Summary:
    dest: Path
    downloaded: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)   # Synapse files that would overwrite another

    def __str__(self) -> str:
        text = (f"{self.dest}: {len(self.downloaded)} file(s) downloaded, {len(self.skipped)} already "
                "up to date")
        if self.conflicts:
            text += f", {len(self.conflicts)} skipped as duplicates ({', '.join(self.conflicts[:3])})"
        return text


def _remote_files(client, entity: str) -> list[RemoteFile]:
    root = client.get(entity, downloadFile=False)
    if _field(root, "concreteType", "") in _CONTAINER_TYPES:
        return list(walk(client, entity))
    return [RemoteFile(entity, (), _field(root, "name", entity))]


def download(dest: str | Path, entity: str = DEFAULT_ENTITY, *, client=None, env=None,
             config_path: str | Path | None = None, progress: bool = True) -> Summary:
    """Download every file under ``entity`` into ``dest`` in the challenge layout.

    ``client`` defaults to a real ``synapseclient.Synapse``; ``env`` and ``config_path``
    default to the process environment and ``~/.synapseConfig``.  Raises a
    ``DownloadError`` subclass for each kind of failure (see ``EXIT_CODES``).
    """
    from tqdm import tqdm

    if not _SYN_ID.match(entity):
        raise ParameterError("entity", repr(entity), f"not a Synapse ID (like {DEFAULT_ENTITY})")
    dest = Path(dest)
    token, source = credentials(env, config_path)
    current = entity
    try:
        if client is None:
            client = synapse_client() if config_path is None else synapse_client(config_path)
        client.login(authToken=token, silent=True)
        remote = _remote_files(client, entity)
        dest.mkdir(parents=True, exist_ok=True)
        summary, taken = Summary(dest), {}
        for item in tqdm(remote, desc="ra2 download", unit="file", disable=not progress):
            current = item.syn_id
            rel = local_path(item)
            if rel in taken:
                log.warning("%s (%s) would overwrite %s from %s; skipped", item.name, item.syn_id, rel, taken[rel])
                summary.conflicts.append(item.syn_id)
                continue
            taken[rel] = item.syn_id
            outcome = fetch(client, item, dest)
            (summary.downloaded if outcome == "downloaded" else summary.skipped).append(dest / rel)
    except (DownloadError, UsageError):
        raise
    except Exception as exc:  # noqa: BLE001 - every known kind becomes its own message and exit code
        known = classify(exc, current, token_source=source)
        if known is None:
            known = DownloadError(f"unexpected error for {current}: {type(exc).__name__}: {exc}")
        known.args = (_redact(str(known), token),)
        raise known from exc
    shutil.rmtree(dest / STAGING, ignore_errors=True)
    return summary


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "<token>") if token else text


# ------------------------------------------------------------------ the subcommand
HELP = f"""\
credentials (never on the command line, never logged):
  1. the environment variable {TOKEN_VARIABLE}: a Synapse personal access token with the
     view and download scopes (synapse.org > Account Settings > Personal Access Tokens);
  2. otherwise the Synapse configuration file {CONFIG_FILE}, with
       [authentication]
       authtoken = <token>
The RA2 data needs an approved data-use request on the challenge project ({DEFAULT_ENTITY}).

layout written: DEST/train/ (images, training.csv), DEST/test/ (images, template.csv),
DEST/other/ (anything else). Files already present with the right MD5 are skipped, so
running the command again resumes an interrupted download.

exit codes: 0 done, 1 other Synapse error, 2 bad option, 3 no credentials,
4 credentials refused, 5 access not granted, 6 entity not found, 7 network unreachable,
8 disk full, 9 checksum mismatch
"""
