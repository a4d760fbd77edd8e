"""``ra2 download`` driven through a fake Synapse client (no network exists here).

The fake mimics ``synapseclient.Synapse`` for the calls the module uses: ``login``,
``getChildren`` (dicts with id/name/type) and ``get`` (metadata with md5/fileSize, or a
download into ``downloadLocation``).  Failures are the real synapseclient exceptions.
"""
from __future__ import annotations

import errno
import hashlib

import pytest

from download import synapse as dl
from ra2.cli import main

exc = pytest.importorskip("synapseclient.core.exceptions")
requests = pytest.importorskip("requests")

TOKEN = "tok-3f9a-very-secret"
FOLDER, FILE = dl._FOLDER_TYPE, dl._FILE_TYPE
PROJECT = "org.sagebionetworks.repo.model.Project"


def http_error(status: int, reason: str):
    response = requests.models.Response()
    response.status_code = status
    return exc.SynapseHTTPError(f"{status} Client Error: {reason}\nsome server text", response=response)


class FakeEntity(dict):
    """Like a synapseclient Entity: item access for properties, ``.path`` after a download."""
    path = None


class FakeSynapse:
    """A project syn1 with train/ and test/ folders, a docs file, and hooks to fail."""

    def __init__(self, *, corrupt=(), fail_on_download=None, fail_login=None, fail_get=None):
        self.tree = {  # parent -> [(id, name, type)]
            "syn1": [("syn2", "Training images", FOLDER), ("syn3", "test", FOLDER), ("syn9", "README.txt", FILE)],
            "syn2": [("syn21", "UAB001-LH.jpg", FILE), ("syn22", "UAB001-RH.jpg", FILE),
                     ("syn23", "training.csv", FILE)],
            "syn3": [("syn31", "UAB900-LF.jpg", FILE), ("syn32", "template.csv", FILE)],
        }
        self.content = {sid: f"content of {sid}\n".encode() * 3 for sid in ("syn9", "syn21", "syn22", "syn23",
                                                                             "syn31", "syn32")}
        self.names = {sid: name for kids in self.tree.values() for sid, name, _ in kids}
        self.corrupt = set(corrupt)              # ids whose downloaded bytes differ from their MD5
        self.fail_on_download = fail_on_download or {}   # id -> exception raised while downloading
        self.fail_login, self.fail_get = fail_login, fail_get
        self.logins, self.downloads = [], []

    def login(self, email=None, silent=False, authToken=None, profile="default"):
        self.logins.append(authToken)
        if self.fail_login is not None:
            raise self.fail_login

    def getChildren(self, parent, includeTypes=("folder", "file"), sortBy="NAME", sortDirection="ASC"):
        if parent not in self.tree:
            raise http_error(404, "Not Found")
        for sid, name, kind in self.tree[parent]:
            yield {"id": sid, "name": name, "type": kind, "versionNumber": 1}

    def get(self, entity, downloadFile=True, downloadLocation=None, ifcollision="keep.both", **kwargs):
        if self.fail_get is not None:
            raise self.fail_get
        if entity == "syn1":
            return FakeEntity(id="syn1", name="RA2 project", concreteType=PROJECT)
        if entity not in self.content:
            raise http_error(404, "Not Found")
        data = self.content[entity]
        meta = FakeEntity(id=entity, name=self.names[entity], concreteType=FILE,
                          md5=hashlib.md5(data).hexdigest(), fileSize=len(data))
        if not downloadFile:
            return meta
        self.downloads.append(entity)
        target = f"{downloadLocation}/{self.names[entity]}"
        with open(target, "wb") as fh:
            fh.write(data[: len(data) // 2])          # a partial file exists before any failure
            if entity in self.fail_on_download:
                raise self.fail_on_download[entity]
            fh.write(b"X" if entity in self.corrupt else data[len(data) // 2:])
        meta.path = target
        return meta


def run(tmp_path, client, **kw):
    return dl.download(tmp_path / "data", "syn1", client=client, env={"SYNAPSE_AUTH_TOKEN": TOKEN},
                       progress=False, **kw)


def test_layout_checksums_and_token_passed(tmp_path):
    client = FakeSynapse()
    summary = run(tmp_path, client)
    root = tmp_path / "data"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == ["other/README.txt", "test/UAB900-LF.jpg", "test/template.csv",
                     "train/UAB001-LH.jpg", "train/UAB001-RH.jpg", "train/training.csv"]
    assert (root / "train" / "UAB001-LH.jpg").read_bytes() == client.content["syn21"]
    assert len(summary.downloaded) == 6 and not summary.skipped
    assert client.logins == [TOKEN]
    assert not (root / dl.STAGING).exists()


def test_resume_skips_files_with_the_right_md5_and_replaces_wrong_ones(tmp_path):
    run(tmp_path, FakeSynapse())
    (tmp_path / "data" / "train" / "UAB001-RH.jpg").write_bytes(b"damaged")
    client = FakeSynapse()
    summary = run(tmp_path, client)
    assert client.downloads == ["syn22"]
    assert len(summary.skipped) == 5 and [p.name for p in summary.downloaded] == ["UAB001-RH.jpg"]
    assert (tmp_path / "data" / "train" / "UAB001-RH.jpg").read_bytes() == client.content["syn22"]


def test_interrupted_run_leaves_no_partial_file_and_resumes(tmp_path):
    broken = FakeSynapse(fail_on_download={"syn22": requests.exceptions.ConnectionError("Max retries exceeded")})
    with pytest.raises(dl.NetworkUnreachable, match="cannot reach Synapse"):
        run(tmp_path, broken)
    root = tmp_path / "data"
    assert not (root / "train" / "UAB001-RH.jpg").exists()
    assert not [p for p in (root / dl.STAGING).rglob("*") if p.is_file()]   # the partial file is gone
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == ["UAB001-LH.jpg"]
    client = FakeSynapse()
    summary = run(tmp_path, client)
    assert [p.name for p in summary.skipped] == ["UAB001-LH.jpg"] and len(summary.downloaded) == 5
    assert "syn21" not in client.downloads
    assert (root / "train" / "UAB001-RH.jpg").read_bytes() == client.content["syn22"]


def test_checksum_mismatch_discards_the_file(tmp_path):
    with pytest.raises(dl.ChecksumMismatch, match=r"UAB900-LF\.jpg \(syn31\): MD5 of the downloaded file") as err:
        run(tmp_path, FakeSynapse(corrupt={"syn31"}))
    assert err.value.exit_code == 9
    assert not (tmp_path / "data" / "test" / "UAB900-LF.jpg").exists()
    assert not list((tmp_path / "data").rglob("UAB900-LF.jpg"))


@pytest.mark.parametrize("kwargs, kind, code, words", [
    (dict(fail_login=exc.SynapseAuthenticationError("bad token")), dl.CredentialsRefused, 4, "refused"),
    (dict(fail_login=http_error(401, "Unauthorized")), dl.CredentialsRefused, 4, "refused"),
    (dict(fail_get=http_error(403, "Forbidden")), dl.AccessNotGranted, 5, "data-use request"),
    (dict(fail_get=exc.SynapseUnmetAccessRestrictions("restricted")), dl.AccessNotGranted, 5, "data-use request"),
    (dict(fail_get=http_error(404, "Not Found")), dl.EntityNotFound, 6, "does not exist"),
    (dict(fail_login=requests.exceptions.ConnectionError("Name or service not known")), dl.NetworkUnreachable, 7,
     "cannot reach Synapse"),
    (dict(fail_on_download={"syn21": OSError(errno.ENOSPC, "No space left on device", "x.jpg")}), dl.DiskFull, 8,
     "disk full"),
    (dict(fail_get=http_error(500, "Server Error")), dl.DownloadError, 1, "HTTP 500"),
])
def test_each_failure_has_its_own_error_and_exit_code(tmp_path, kwargs, kind, code, words):
    with pytest.raises(dl.DownloadError, match=words) as err:
        run(tmp_path, FakeSynapse(**kwargs))
    assert type(err.value) is kind and err.value.exit_code == code
    assert TOKEN not in str(err.value)
    assert not [p for p in (tmp_path / "data").rglob("*.jpg")
                if p.is_file() and p.read_bytes() not in FakeSynapse().content.values()]


def test_exit_codes_are_distinct():
    assert len(dl.EXIT_CODES) == 8 and 0 not in dl.EXIT_CODES and 2 not in dl.EXIT_CODES


def test_unknown_entity_and_bad_id(tmp_path):
    client = FakeSynapse()
    with pytest.raises(dl.EntityNotFound, match="syn404"):
        dl.download(tmp_path, "syn404", client=client, env={"SYNAPSE_AUTH_TOKEN": TOKEN}, progress=False)
    with pytest.raises(dl.UsageError, match="not a Synapse ID"):
        dl.download(tmp_path, "20545111", client=client, env={"SYNAPSE_AUTH_TOKEN": TOKEN}, progress=False)


def test_single_file_entity(tmp_path):
    summary = dl.download(tmp_path, "syn23", client=FakeSynapse(), env={"SYNAPSE_AUTH_TOKEN": TOKEN}, progress=False)
    assert summary.downloaded == [tmp_path / "train" / "training.csv"]


def test_credentials_from_env_then_config_file(tmp_path):
    assert dl.credentials({"SYNAPSE_AUTH_TOKEN": " abc "}, tmp_path / "none") == ("abc", " (from SYNAPSE_AUTH_TOKEN)")
    config = tmp_path / ".synapseConfig"
    config.write_text("[authentication]\nauthtoken = abc\n")
    token, source = dl.credentials({}, config)
    assert token is None and str(config) in source
    with pytest.raises(dl.NoCredentials):
        dl.credentials({"SYNAPSE_AUTH_TOKEN": "  "}, tmp_path / "none")


def test_config_file_login_passes_no_token(tmp_path):
    config = tmp_path / ".synapseConfig"
    config.write_text("[authentication]\nauthtoken = abc\n")
    client = FakeSynapse()
    dl.download(tmp_path / "d", "syn1", client=client, env={}, config_path=config, progress=False)
    assert client.logins == [None]


# ------------------------------------------------------------------ through the command line
def test_cli_no_credentials_says_what_to_do_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SYNAPSE_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["download", "--dest", str(tmp_path / "d")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SYNAPSE_AUTH_TOKEN" in err and ".synapseConfig" in err
    assert "Traceback" not in err


def test_cli_never_prints_the_token(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", TOKEN)
    monkeypatch.setattr(dl, "synapse_client",
                        lambda: FakeSynapse(fail_get=exc.SynapseHTTPError(f"500 Server Error: echo {TOKEN}")))
    assert main(["-v", "download", "--dest", str(tmp_path / "d"), "--entity", "syn1", "--no-progress"]) == 1
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err and "HTTP 500" in out.err


def test_cli_success_prints_a_summary(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", TOKEN)
    monkeypatch.setattr(dl, "synapse_client", FakeSynapse)
    assert main(["download", "--dest", str(tmp_path / "d"), "--entity", "syn1", "--no-progress"]) == 0
    assert "6 file(s) downloaded, 0 already up to date" in capsys.readouterr().out


def test_help_documents_the_credentials(capsys):
    with pytest.raises(SystemExit) as done:
        main(["download", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for words in ("SYNAPSE_AUTH_TOKEN", "~/.synapseConfig", "authtoken", "data-use request", "exit codes"):
        assert words in text


def test_unreachable_server_fails_fast(monkeypatch):
    import socket

    def refuse(address, timeout=None):
        raise socket.gaierror(-2, "Name or service not known")

    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(dl.NetworkUnreachable, match=r"cannot reach Synapse \(repo\.example\): .*not known") as err:
        dl.check_reachable("https://repo.example/repo/v1")
    assert err.value.exit_code == 7


def test_too_little_free_space_is_refused_before_downloading(tmp_path, monkeypatch):
    import collections

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda path: usage(100, 90, 10))
    client = FakeSynapse()
    with pytest.raises(dl.DiskFull, match=r"UAB001-LH\.jpg \(syn21\) needs .* MB free") as err:
        run(tmp_path, client)
    assert err.value.exit_code == 8 and client.downloads == []


def test_two_files_for_one_place_keep_the_first(tmp_path):
    client = FakeSynapse()
    client.tree["syn3"].append(("syn33", "more training", FOLDER))
    client.tree["syn33"] = [("syn34", "UAB001-LH.jpg", FILE)]
    client.content["syn34"] = b"another copy"
    client.names["syn34"] = "UAB001-LH.jpg"
    summary = run(tmp_path, client)
    assert summary.conflicts == ["syn34"] and "1 skipped as duplicates (syn34)" in str(summary)
    assert (tmp_path / "data" / "train" / "UAB001-LH.jpg").read_bytes() == client.content["syn21"]
