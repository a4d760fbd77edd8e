"""Output paths (challenge/outputs.py) and the commands that write files: every output path is
checked before any work, no command writes over one of its inputs, and a failed or interrupted
write leaves the old file as it was.  Each CLI case: exit code, the culprit named in the message,
inputs unchanged (hashes before and after), no traceback."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from pathlib import Path

import pandas as pd
import pytest

from challenge.errors import UsageError
from challenge.outputs import check_output_file, check_output_folder, replacing, write_csv, write_json, write_text
from ra2.cli import main


ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
READ_ONLY = Path("/proc/ra2-output-test")        # /proc takes no new files, even for root


def hashes(*paths) -> dict:
    out = {}
    for p in paths:
        p = Path(p)
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if f.is_file():
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def ra2(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out, out.err


# ------------------------------------------------------------------ the checks
def test_an_output_file_may_not_be_a_folder_under_a_file_or_an_input(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "input.csv").write_text("x")
    (tmp_path / "link.csv").symlink_to(tmp_path / "input.csv")
    (tmp_path / "in_dir").mkdir()
    cases = [(tmp_path, "is a folder"), (tmp_path / "a_file" / "out.csv", "is a file, not a folder"),
             (tmp_path / "a_file" / "deeper" / "out.csv", "is a file, not a folder"),
             (tmp_path / "input.csv", "is one of this command's input files"),
             (tmp_path / "link.csv", "is one of this command's input files"),
             (tmp_path / "in_dir" / "out.csv", "inside the input folder")]
    for path, words in cases:
        with pytest.raises(UsageError, match=words) as err:
            check_output_file(path, "--out", [tmp_path / "input.csv", tmp_path / "in_dir"])
        assert str(err.value).startswith(f"--out {path}")
    assert check_output_file(tmp_path / "new" / "deeper" / "out.csv", "--out") == tmp_path / "new/deeper/out.csv"
    assert check_output_file(tmp_path / "a_file", "--out", [tmp_path / "input.csv"]) == tmp_path / "a_file"
    assert not (tmp_path / "new").exists()                  # checking creates nothing


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_an_output_in_a_read_only_place_is_refused(tmp_path):
    with pytest.raises(UsageError, match="cannot write in /proc"):
        check_output_file(READ_ONLY / "out.csv", "--out")
    with pytest.raises(UsageError, match="cannot write in /proc"):
        check_output_folder(READ_ONLY, "--out")


@pytest.mark.skipif(ROOT, reason="root writes into read-only folders")
def test_an_output_in_a_folder_without_write_permission_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(UsageError, match="cannot write in"):
            check_output_file(locked / "out.csv", "--out")
    finally:
        locked.chmod(0o755)


def test_an_output_folder_may_not_be_a_file_an_input_or_hold_an_input_it_replaces(tmp_path):
    data = tmp_path / "cohort" / "train"
    data.mkdir(parents=True)
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        check_output_folder(tmp_path / "f", "--out")
    with pytest.raises(UsageError, match="is an input of this command"):
        check_output_folder(data, "--out", [data])
    with pytest.raises(UsageError, match="replacing the folder would delete"):
        check_output_folder(tmp_path / "cohort", "--out", [data], replaced=True)
    assert check_output_folder(tmp_path / "cohort", "--out", [data]) == tmp_path / "cohort"
    assert check_output_folder(tmp_path / "cohort" / "train" / "bundle", "--out", [data], replaced=True)


# ------------------------------------------------------------------ the writer
def test_the_writer_replaces_whole_files_and_an_interrupted_write_changes_nothing(tmp_path):
    path = tmp_path / "sub" / "out.json"
    write_json(path, {"a": float("nan"), "b": float("inf"), "c": (1, 2)})
    assert json.loads(path.read_text()) == {"a": None, "b": "inf", "c": [1, 2]}
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with replacing(path) as tmp:
            tmp.write_text("half a fi")
            raise KeyboardInterrupt
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["out.json"]
    write_csv(tmp_path / "t.csv", pd.DataFrame({"a": [1, 2]}))
    assert (tmp_path / "t.csv").read_text() == "a\n1\n2\n"
    write_text(tmp_path / "t.csv", "b\n")
    assert (tmp_path / "t.csv").read_text() == "b\n" and oct((tmp_path / "t.csv").stat().st_mode & 0o777) == "0o644"


def test_a_sigterm_that_a_destructor_swallows_still_stops_the_next_commit(tmp_path, capsys):
    """Python loses the KeyboardInterrupt a signal handler raises inside a destructor or weakref callback
    (Keras runs many while it saves a model); the signal must still stop the command before it commits."""
    import gc

    from challenge import interrupts
    from challenge.outputs import staged_folder

    class Saving:                                       # stands in for Keras's callbacks while it saves
        def __del__(self):
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)

    write_text(tmp_path / "out.csv", "old\n")
    with staged_folder(tmp_path / "bundle", "train") as tmp:
        (tmp / "bundle.json").write_text("{}")
    old_handler, old_hook = signal.getsignal(signal.SIGTERM), sys.unraisablehook
    try:
        assert interrupts.install(signal.SIGTERM) and interrupts.pending() is None
        Saving()
        gc.collect()
        assert interrupts.pending() == "SIGTERM"        # the raise was lost, the signal was not
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            write_text(tmp_path / "out.csv", "new\n")
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            with staged_folder(tmp_path / "bundle", "train") as tmp:
                (tmp / "bundle.json").write_text('{"new": 1}')
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "out.csv"]
        assert (tmp_path / "out.csv").read_text() == "old\n"
        assert (tmp_path / "bundle" / "bundle.json").read_text() == "{}"
        assert "Traceback" not in capsys.readouterr().err    # a lost interrupt is no traceback for the user
    finally:
        interrupts.clear()
        signal.signal(signal.SIGTERM, old_handler)
        sys.unraisablehook = old_hook
    write_text(tmp_path / "out.csv", "new\n")           # cleared: writes go through again
    assert (tmp_path / "out.csv").read_text() == "new\n"


# ------------------------------------------------------------------ score / compare / leaderboard / baseline
def test_score_json_onto_its_own_predictions_or_gold_file_is_refused(corpus, capsys):
    before = hashes(corpus.root)
    for target in (corpus.pred, corpus.gold):
        code, _, err = ra2(capsys, "score", corpus.pred, "--gold", corpus.gold, "--json", target)
        assert code == 2 and f"--json {target}: is one of this command's input files" in err
    assert hashes(corpus.root) == before


@pytest.mark.parametrize("where, words", [
    ("folder", "is a folder"), ("under_file", "is a file, not a folder"), ("read_only", "cannot write in /proc")])
def test_score_json_onto_an_unusable_place(corpus, capsys, tmp_path, where, words):
    (tmp_path / "a_file").write_text("keep")
    target = {"folder": tmp_path, "under_file": tmp_path / "a_file" / "r.json",
              "read_only": READ_ONLY / "r.json"}[where]
    code, out, err = ra2(capsys, "score", corpus.pred, "--gold", corpus.gold, "--json", target)
    assert code == 2 and str(target) in err and words in err and err.count("\n") == 1
    assert out == "" and (tmp_path / "a_file").read_text() == "keep"      # refused before any work


def test_score_json_replaces_an_earlier_output(corpus, capsys, tmp_path):
    target = tmp_path / "r.json"
    target.write_text("earlier")
    code, _, _ = ra2(capsys, "score", corpus.pred, "--gold", corpus.gold, "--json", target)
    assert code == 0 and "sc1" in json.loads(target.read_text())["official"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_compare_json_onto_an_input_is_refused(corpus, capsys):
    before = hashes(corpus.root)
    code, _, err = ra2(capsys, "compare", corpus.pred, corpus.pred_crlf, "--gold", corpus.gold, "--json",
                       corpus.pred_crlf)
    assert code == 2 and "pred_crlf.csv: is one of this command's input files" in err
    assert hashes(corpus.root) == before


def test_leaderboard_out_onto_a_file_an_input_or_a_read_only_place(corpus, capsys, tmp_path):
    board = tmp_path / "board"
    board.mkdir()
    mine = board / "leaderboard.csv"
    mine.write_bytes(corpus.pred.read_bytes())          # a prediction file that happens to sit there
    before = hashes(corpus.root, board)
    for out, words in ((corpus.pred, "is a file, not a folder"), (board, "is one of this command's input files"),
                       (READ_ONLY, "cannot write in /proc")):
        code, _, err = ra2(capsys, "leaderboard", corpus.pred, mine, "--gold", corpus.gold, "--n-boot", 5,
                           "--out", out)
        assert code == 2 and words in err, err
    assert hashes(corpus.root, board) == before


@pytest.mark.parametrize("option, value", [("--seed", "-1"), ("--tie-k", "-2"), ("--n-boot", "0")])
def test_leaderboard_options(corpus, capsys, tmp_path, option, value):
    code, _, err = ra2(capsys, "leaderboard", corpus.pred, "--gold", corpus.gold, option, value, "--out", tmp_path)
    assert code == 2 and f"{option} {value}" in err and not any(tmp_path.iterdir())


def test_baseline_out_onto_a_folder_or_the_template(corpus, capsys, tmp_path):
    train = tmp_path / "train"
    train.mkdir()
    (train / "training.csv").write_bytes(corpus.gold.read_bytes())
    before = hashes(corpus.root, train)
    for out, words in ((tmp_path, "is a folder"), (corpus.images / "template.csv", "input files")):
        code, _, err = ra2(capsys, "baseline", "train-mean", "--train", train, "--test", corpus.images, "--out", out)
        assert code == 2 and f"--out {out}" in err and words in err
    code, _, err = ra2(capsys, "baseline", "image-stats", "--train", train, "--test", corpus.images, "--out",
                       tmp_path / "p.csv", "--seed", -1)
    assert code == 2 and "--seed -1" in err and not (tmp_path / "p.csv").exists()
    assert hashes(corpus.root, train) == before


# ------------------------------------------------------------------ predict: every output path checked first
@pytest.fixture
def fake_bundle(tmp_path):
    """Output paths are refused before the bundle is read, so no trained bundle is needed here."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "bundle.json").write_text("{}")
    return bundle


@pytest.mark.parametrize("option, target, words", [
    ("--out", "template", "is one of this command's input files"),
    ("--out", "image", "is one of this command's input files"),
    ("--out", "folder", "is a folder"),
    ("--out", "under_file", "is a file, not a folder"),
    ("--out", "read_only", "cannot write in /proc"),
    ("--out", "in_bundle", "inside the input folder"),
    ("--landmarks-out", "read_only", "cannot write in /proc"),
    ("--landmarks-out", "image", "is one of this command's input files"),
    ("--summary", "under_file", "is a file, not a folder"),
    ("--summary", "same_as_out", "name the same file"),
    ("--overlays", "images", "is an input of this command"),
    ("--overlays", "under_file", "is a file, not a folder"),
])
def test_predict_refuses_bad_output_paths_before_any_work(corpus, capsys, tmp_path, fake_bundle, option, target,
                                                         words):
    (tmp_path / "a_file").write_text("keep")
    paths = {"template": corpus.images / "template.csv", "image": corpus.images / "UAB001-LH.jpg",
             "folder": tmp_path, "under_file": tmp_path / "a_file" / "x.csv", "read_only": READ_ONLY / "x.csv",
             "in_bundle": fake_bundle / "x.csv", "same_as_out": tmp_path / "p.csv", "images": corpus.images}
    argv = ["predict", "--bundle", fake_bundle, "--images", corpus.images, "--template",
            corpus.images / "template.csv"]
    if option != "--out":
        argv += ["--out", tmp_path / "p.csv"]
    argv += [option, paths[target]]
    before = hashes(corpus.root, fake_bundle, tmp_path / "a_file")
    code, out, err = ra2(capsys, *argv)
    assert code == 2 and words in err and option in err and err.count("\n") == 1, err
    assert hashes(corpus.root, fake_bundle, tmp_path / "a_file") == before
    assert not (tmp_path / "p.csv").exists()


# ------------------------------------------------------------------ outputs that land together
def _listing(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``root``, hidden ones included."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_staged_outputs_land_together_or_leave_every_earlier_one_as_it_was(tmp_path, failure):
    from challenge.outputs import StagedOutputs

    write_text(tmp_path / "pred.csv", "earlier predictions\n")
    write_text(tmp_path / "unsure.csv", "earlier uncertainty\n")
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "earlier.png").write_bytes(b"earlier picture")
    before = _listing(tmp_path)
    with pytest.raises(type(failure)):
        with StagedOutputs() as staged:
            (staged.folder(tmp_path / "pictures") / "new.png").write_bytes(b"new picture")
            (staged.folder(tmp_path / "new" / "masks") / "new.png").write_bytes(b"new mask")
            write_text(staged.file(tmp_path / "pred.csv"), "new predictions\n")
            raise failure                   # the uncertainty file fails after the predictions were written
    assert _listing(tmp_path) == before     # no new file, no temporary left, no folder made

    with StagedOutputs() as staged:
        (staged.folder(tmp_path / "pictures") / "new.png").write_bytes(b"new picture")
        (staged.folder(tmp_path / "new" / "masks") / "new.png").write_bytes(b"new mask")
        write_text(staged.file(tmp_path / "pred.csv"), "new predictions\n")
        write_csv(staged.file(tmp_path / "unsure.csv"), pd.DataFrame({"a": [1]}))
    assert _listing(tmp_path) == {"new": None, "new/masks": None, "new/masks/new.png": b"new mask",
                                  "pictures": None, "pictures/earlier.png": b"earlier picture",
                                  "pictures/new.png": b"new picture", "pred.csv": b"new predictions\n",
                                  "unsure.csv": b"a\n1\n"}
    umask = os.umask(0o22)
    os.umask(umask)
    assert oct((tmp_path / "pred.csv").stat().st_mode & 0o777) == "0o644"
    assert oct((tmp_path / "new" / "masks").stat().st_mode & 0o777) == oct(0o777 & ~umask)


def test_a_sigterm_that_a_library_swallowed_stops_staged_outputs_before_any_rename(tmp_path):
    from challenge import interrupts
    from challenge.outputs import StagedOutputs

    write_text(tmp_path / "pred.csv", "earlier\n")
    before = _listing(tmp_path)
    interrupts._pending = "SIGTERM"         # as the handler leaves it when its KeyboardInterrupt was lost
    try:
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            with StagedOutputs() as staged:
                write_text(staged.file(tmp_path / "pred.csv"), "new\n")
                (staged.folder(tmp_path / "overlays") / "a.png").write_bytes(b"x")
    finally:
        interrupts.clear()
    assert _listing(tmp_path) == before


@pytest.fixture
def ctrl_c():
    """Ctrl-C raising ``KeyboardInterrupt``, as in a terminal (a run started in the background, under
    ``nohup`` or ``&``, ignores it)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_renames_waits_until_every_output_is_in_place(tmp_path, monkeypatch, ctrl_c, signum):
    from challenge import interrupts
    from challenge.outputs import StagedOutputs

    for name in ("pred.csv", "landmarks.csv", "unsure.csv"):
        write_text(tmp_path / name, "earlier\n")
    real = os.replace

    def replace_then_signal(src, dst):   # the user's Ctrl-C (or SIGTERM) lands just after the first rename
        real(src, dst)
        if not replace_then_signal.sent:
            replace_then_signal.sent = True
            signal.raise_signal(signum)
    replace_then_signal.sent = False
    monkeypatch.setattr(os, "replace", replace_then_signal)
    assert interrupts.install(signal.SIGTERM)
    try:
        with pytest.raises(KeyboardInterrupt):     # the command still stops on it, after the commit
            with StagedOutputs() as staged:
                for name in ("pred.csv", "landmarks.csv", "unsure.csv"):
                    staged.file(tmp_path / name).write_text("new\n")
                (staged.folder(tmp_path / "overlays") / "a.png").write_bytes(b"x")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        interrupts.clear()
    assert replace_then_signal.sent
    assert _listing(tmp_path) == {"landmarks.csv": b"new\n", "overlays": None, "overlays/a.png": b"x",
                                  "pred.csv": b"new\n", "unsure.csv": b"new\n"}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler     # the handlers are back


def test_a_signal_during_a_folder_swap_leaves_the_new_folder_whole_and_nothing_aside(tmp_path, monkeypatch, ctrl_c):
    from pathlib import Path as P

    from challenge.outputs import staged_folder

    out = tmp_path / "b"
    with staged_folder(out, "train") as work:
        (work / "bundle.json").write_text("old")
    real = P.replace

    def replace_then_signal(self, target):    # Ctrl-C between moving the old folder aside and the new in
        result = real(self, target)
        if not replace_then_signal.sent:
            replace_then_signal.sent = True
            signal.raise_signal(signal.SIGINT)
        return result
    replace_then_signal.sent = False
    monkeypatch.setattr(P, "replace", replace_then_signal)
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(out, "train") as work:
            (work / "bundle.json").write_text("new")
    assert replace_then_signal.sent
    assert (out / "bundle.json").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["b"]
    from argparse import Namespace

    from challenge import interrupts
    from ra2.cli import _kept

    args = Namespace(replaces="out", out=str(out))
    try:                                          # and the command's last words say so
        assert interrupts.landed() == [str(out)]
        assert _kept(args) == f"{out} holds this run's whole result (the signal came as it was put in place)"
    finally:
        interrupts.clear()
    assert _kept(args) == f"{out} is as it was before this run"


def test_a_staged_output_folder_whose_run_fails_is_not_made_and_an_earlier_one_is_kept(tmp_path):
    from challenge.outputs import StagedOutputs

    staged = StagedOutputs()
    (staged.folder(tmp_path / "new" / "overlays") / "a.png").write_bytes(b"x")
    staged.discard()
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "earlier.png").write_bytes(b"x")
    staged = StagedOutputs()
    (staged.folder(kept) / "a.png").write_bytes(b"y")
    staged.discard()
    assert sorted(p.name for p in kept.iterdir()) == ["earlier.png"]


# ------------------------------------------------------------------ folders swapped in whole
def test_staged_folder_replaces_whole_or_not_at_all(tmp_path):
    from challenge.outputs import RECORD, staged_folder

    out = tmp_path / "b"
    with staged_folder(out, "train") as work:
        (work / "bundle.json").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_folder(out, "train") as work:
            (work / "bundle.json").write_text("new")
            raise RuntimeError("training failed")
    assert (out / "bundle.json").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["b"]
    with staged_folder(out, "train") as work:
        (work / "bundle.json").write_text("new")
    assert (out / "bundle.json").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["b"]
    assert json.loads((out / RECORD).read_text())["files"] == ["bundle.json"]

    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("mine")
    (mine / "bundle.json").write_text("{}")                          # a file of our name is no proof
    with pytest.raises(UsageError, match="not a folder that ra2 train wrote"):
        with staged_folder(mine, "train"):
            pass
    assert (mine / "todo.txt").read_text() == "mine"
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(tmp_path / "new" / "deeper" / "b", "train"):
            raise KeyboardInterrupt
    assert not (tmp_path / "new").exists()                             # the parents it made are gone too


def test_an_output_of_ours_inside_another_is_ours_and_a_file_added_to_either_is_foreign(tmp_path):
    from challenge.outputs import check_replaceable, staged_folder

    with staged_folder(tmp_path / "demo", "demo") as work:
        (work / "report.md").write_text("r")
        with staged_folder(work / "bundle", "train") as inner:
            (inner / "bundle.json").write_text("{}")
    with staged_folder(tmp_path / "demo" / "bundle", "train") as inner:    # retrained in place: other files
        (inner / "scorer.keras").write_text("w")
    check_replaceable(tmp_path / "demo", "demo")
    (tmp_path / "demo" / "bundle" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="bundle/notes.txt"):
        check_replaceable(tmp_path / "demo", "demo")
    with pytest.raises(UsageError, match="notes.txt"):
        check_replaceable(tmp_path / "demo" / "bundle", "train")


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantoms")
    assert main(["synth", "--out", str(root / "c"), "--train", "3", "--test", "1", "--size-scale", "0.3", "--seed", "1",
                 "-q", "--preset", "easy"]) == 0
    assert main(["baseline", "train-mean", "--train", str(root / "c" / "train"), "--test", str(root / "c" / "test"),
                 "--out", str(root / "mean.csv")]) == 0
    return root


@pytest.mark.parametrize("command, own_name", [
    ("train", "bundle.json"), ("cv", "per_fold.csv"), ("synth", "cohort.json"), ("review", "index.html"),
    ("explain", "shap_all.csv"), ("demo", "report"),
])
def test_a_folder_with_a_file_of_our_name_but_no_record_of_ours_is_refused_by_every_command(
        capsys, phantoms, tmp_path, command, own_name):
    """The user's folder holds their files and one whose name the command writes: it is not ours, and
    nothing in it may change (a file name alone was once taken as proof, and the folder replaced)."""
    from tests.conftest import untrained_bundle
    from challenge.schemes import load_scheme

    folder = tmp_path / "theirs"
    (folder / "sub").mkdir(parents=True)
    (folder / own_name).write_text('{"format": "ra2-method-bundle"}')
    (folder / "sub" / "thesis.docx").write_bytes(b"years of work")
    cohort = phantoms / "c"
    argv = {"train": ["train", "--data", cohort / "train", "--quick"],
            "cv": ["cv", "--data", cohort / "train", "--folds", "2", "--quick"],
            "synth": ["synth", "--train", "1", "--test", "1", "-q"],
            "review": ["review", "--images", cohort / "test", "--predictions", phantoms / "mean.csv"],
            "explain": ["explain", "--bundle", untrained_bundle(tmp_path / "b", load_scheme("svh21"))],
            "demo": ["demo", "--no-method", "--train", "2", "--test", "1"]}[command]
    before = hashes(folder, cohort)
    code, out, err = ra2(capsys, *argv, "--out", folder)
    assert code == 2 and err.count("\n") == 1, err
    assert f"{folder}: not a folder that ra2 {command} wrote (no ra2-output.json)" in err and own_name in err
    assert hashes(folder, cohort) == before and sorted(p.name for p in tmp_path.iterdir() if p.name != "b") == ["theirs"]
