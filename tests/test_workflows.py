"""The CWL workflows (workflows/) and what runs them.

- every workflow file passes ``cwltool --validate``;
- ``ra2 cv`` in pieces: ``--fold K`` folders, ``ra2 cv merge`` (refusals, several seeds), ``--split-seed``;
  and ``ra2 cv --engine cwltool`` / ``--engine toil --batch-system single_machine --jobs 2`` on a
  6-patient phantom cohort (``--quick``) give the per-fold tables of the serial ``ra2 cv`` with the same
  seeds, to the last digit;
- ``ra2 evaluate`` on the real Docker engine (marker ``container``): the project's image gives the CSV
  of a direct ``docker run``; a submission sleeping past a 5-s limit is reported timed out with no CSV;
  one writing an invalid CSV is reported invalid with the validator's message; a second run reruns
  nothing.  The bad submissions are tiny images built here from the tests' base image.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import hashes
from tests.test_bad_inputs_more import ra2

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / "workflows"
BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------- the workflow files
@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.cwl")))
def test_every_workflow_is_valid_cwl_v1_2(name):
    path = WORKFLOWS / name
    assert path.read_text().count("cwlVersion: v1.2") == 1
    done = subprocess.run([BIN / "cwltool", "--validate", path], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "is valid CWL" in done.stdout + done.stderr, done.stdout + done.stderr


def test_the_workflows_the_issue_names_are_there_and_the_submission_step_is_the_contract():
    names = {p.name for p in WORKFLOWS.glob("*.cwl")}
    assert {"submission.cwl", "evaluate.cwl", "cv-fold.cwl", "cv.cwl", "evaluate-gpu.cwl"} <= names
    tool = (WORKFLOWS / "submission.cwl").read_text()
    requirements = tool[tool.index("\nrequirements:"):tool.index("\ninputs:")]
    assert "DockerRequirement" in requirements and "dockerOutputDirectory: /output" in requirements
    assert "entryname: /test" in requirements and "ToolTimeLimit" in requirements
    assert "timelimit: $(inputs.time_limit)" in requirements and "\nbaseCommand: [env]" in tool
    assert "HOME=$(runtime.tmpdir)" in tool and "type: File?" in tool
    gpu = (WORKFLOWS / "evaluate-gpu.cwl").read_text()
    assert "cwltool:CUDARequirement" in gpu and "CUDARequirement" not in (WORKFLOWS / "evaluate.cwl").read_text()


# --------------------------------------------------------------------------- ra2 cv merge, on fold folders made here
def _fold_folder(root: Path, fold: int, seed: int, *, folds: int = 2, split_seed: int = 4, sc1: float = 0.5) -> Path:
    """A folder as 'ra2 cv --fold' leaves it (its record, tables and one prediction file), without training."""
    from challenge.outputs import staged_folder, write_json
    from challenge.tables import write_atomic
    from submission.cv import FOLD_FORMAT, METHODS

    out = root / f"s{seed}f{fold}"
    with staged_folder(out, "cv --fold") as work:
        rows = [{"fold": fold, "method": m, "sc1": sc1 + i / 10 + seed / 100, "sc2": None if m == "prior" else 0.25,
                 "sc3": 1 / 3, "patients": 3} for i, m in enumerate(METHODS)]
        write_atomic(pd.DataFrame(rows), work / "per_fold.csv")
        per = pd.DataFrame([{"fold": fold, "method": m, "Patient_ID": f"P00{fold}{j}", "weight": 1.0,
                             "sc1": 0.1 * j + seed} for m in METHODS for j in range(3)])
        write_atomic(per, work / "per_patient.csv")
        (work / "full.csv").write_text("Patient_ID\n")
        write_json(work / "fold.json", {"format": FOLD_FORMAT, "version": 1, "fold": fold, "folds": folds,
                                        "seed": seed, "split_seed": split_seed, "profile": "quick", "steps": None,
                                        "budget": None, "scheme": "svh21", "training_csv_sha256": "ab" * 32})
    return out


def test_cv_merge_gathers_one_seed_as_ra2_cv_writes_it(capsys, tmp_path):
    folds = [_fold_folder(tmp_path, k, seed=1) for k in (2, 1)]
    code, out, err = ra2(capsys, "cv", "merge", *folds, "--out", tmp_path / "cv")
    assert code == 0, err
    table = pd.read_csv(tmp_path / "cv" / "per_fold.csv")
    expected = pd.concat([pd.read_csv(f / "per_fold.csv") for f in sorted(folds)], ignore_index=True)
    assert (tmp_path / "cv" / "per_fold.csv").read_text() == expected.to_csv(index=False, lineterminator="\n")
    assert list(table["fold"]) == [1] * 4 + [2] * 4
    assert (tmp_path / "cv" / "fold1" / "full.csv").is_file() and (tmp_path / "cv" / "fold2" / "fold.json").is_file()
    assert not (tmp_path / "cv" / "fold1" / "ra2-output.json").exists()
    code, out, err = ra2(capsys, "compare", "full", "prior", "--per-fold", tmp_path / "cv" / "per_fold.csv")
    assert code == 0 and "over 2 folds" in out, err
    again = ra2(capsys, "cv", "merge", *folds, "--out", tmp_path / "cv")     # its own folder: replaced
    assert again[0] == 0


def test_cv_merge_averages_several_seeds_over_one_split(capsys, tmp_path):
    folds = [_fold_folder(tmp_path, k, seed=s) for k in (1, 2) for s in (1, 3)]
    code, _, err = ra2(capsys, "cv", "merge", *folds, "--out", tmp_path / "cv")
    assert code == 0, err
    top = pd.read_csv(tmp_path / "cv" / "per_fold.csv")
    one = pd.read_csv(tmp_path / "cv" / "seed1" / "per_fold.csv")
    three = pd.read_csv(tmp_path / "cv" / "seed3" / "per_fold.csv")
    assert list(top.columns) == list(one.columns) and list(top["method"][:4]) == list(one["method"][:4])
    assert np.allclose(top["sc1"], (one["sc1"] + three["sc1"]) / 2) and top["sc2"].isna().sum() == 2
    per = pd.read_csv(tmp_path / "cv" / "per_patient.csv")
    assert list(per.columns[:3]) == ["seed", "fold", "method"] and sorted(per["seed"].unique()) == [1, 3]
    assert (tmp_path / "cv" / "seed3" / "fold2" / "full.csv").is_file()


@pytest.mark.parametrize("case, message", [
    ("missing", "seed 1: fold(s) 2 of 2 missing"),
    ("twice", "are both fold 1 of seed 1"),
    ("other split", "are not folds of one cross-validation: split_seed 5 against 4"),
    ("not a fold", "no fold.json; not a folder that 'ra2 cv --fold' wrote"),
])
def test_cv_merge_refuses_folds_that_do_not_make_one_cross_validation(capsys, tmp_path, case, message):
    one = _fold_folder(tmp_path, 1, seed=1)
    other = {"missing": [], "twice": [_copy(one, tmp_path / "copy")],
             "other split": [_fold_folder(tmp_path, 2, seed=1, split_seed=5)],
             "not a fold": [_plain(tmp_path / "plain")]}[case]
    (tmp_path / "cv").mkdir()
    (tmp_path / "cv" / "mine.txt").write_text("keep")
    before = hashes(tmp_path)
    code, out, err = ra2(capsys, "cv", "merge", one, *other, "--out", tmp_path / "new")
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert hashes(tmp_path) == before and not (tmp_path / "new").exists()
    code, _, err = ra2(capsys, "cv", "merge", one, "--out", tmp_path / "cv")      # a folder not ours: refused
    assert code == 2 and "not a folder that ra2 cv wrote" in err and hashes(tmp_path) == before


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def _plain(folder: Path) -> Path:
    folder.mkdir()
    (folder / "per_fold.csv").write_text("fold,method\n")
    return folder


def test_split_seed_fixes_the_folds_whatever_the_training_seed():
    from submission.cv import fold_splits

    patients = [f"P{i:03d}" for i in range(11)]
    a, b = fold_splits(patients, 3, 7), fold_splits(patients, 3, 7)
    assert all((x[1] == y[1]).all() for x, y in zip(a, b))
    assert any((x[1] != y[1]).any() for x, y in zip(a, fold_splits(patients, 3, 8)))


@pytest.mark.parametrize("extra, message", [
    (["--fold", "3"], "--fold 3: must be between 1 and 2 (--folds)"),
    (["--fold", "1", "--engine", "cwltool"], "--fold and --engine"),
    (["--jobs", "2"], "--jobs is an option of --engine cwltool|toil"),
    (["--engine", "cwltool", "--batch-system", "slurm"], "--batch-system is an option of --engine toil"),
    (["--engine", "toil", "--batch-system", "pbs"], "--batch-system pbs: Toil has no such batch system"),
    (["--engine", "cwltool", "--budget", "1h"], "--budget and --engine"),
    (["--split-seed", "-1"], "--split-seed -1: must be between 0"),
])
def test_ra2_cv_refuses_contradicting_engine_and_fold_options(capsys, tmp_path, cv_cohort, extra, message):
    code, out, err = ra2(capsys, "cv", "--data", cv_cohort / "train", "--folds", "2", "--quick",
                         "--out", tmp_path / "cv", *extra)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "cv").exists()


# --------------------------------------------------------------------------- ra2 cv, serially and through the engines
SEED, SPLIT_SEED = 1, 4


@pytest.fixture(scope="module")
def cv_cohort(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cv") / "cohort"
    from ra2.cli import main

    assert main(["synth", "--out", str(root), "--train", "6", "--test", "1", "--seed", "3", "--size-scale", "0.3",
                 "--preset", "easy", "-q"]) == 0
    return root


def _cv(cohort: Path, out: Path, *extra) -> subprocess.CompletedProcess:
    """ra2 cv in a process of its own (as the engines' jobs are): 2 folds, --quick with 2 steps a network (each
    network's first step, its compilation, is most of the time), the fixed seeds."""
    env = dict(os.environ, TQDM_DISABLE="1")
    done = subprocess.run([sys.executable, "-m", "ra2", "cv", "--data", cohort / "train", "--folds", "2", "--quick",
                           "--steps", "2", "--seed", str(SEED), "--split-seed", str(SPLIT_SEED), "--out", out, *map(str, extra)],
                          capture_output=True, text=True, timeout=1800, env=env, cwd=out.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return done


@pytest.fixture(scope="module")
def serial_cv(cv_cohort) -> Path:
    out = cv_cohort.parent / "serial"
    _cv(cv_cohort, out)
    return out


def _same_tables(a: Path, b: Path) -> None:
    for name in ("per_fold.csv", "per_patient.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs:\n{(a / name).read_text()}\n" \
                                                                    f"{(b / name).read_text()}"
    for k in (1, 2):
        for f in ("full.csv", "no-stack.csv", "no-seg.csv", "prior.csv", "template.csv"):
            assert (a / f"fold{k}" / f).read_bytes() == (b / f"fold{k}" / f).read_bytes(), f"fold{k}/{f}"


@pytest.mark.parametrize("engine", [
    ["--engine", "cwltool", "--jobs", "2"],
    ["--engine", "toil", "--batch-system", "single_machine", "--jobs", "2"],
], ids=["cwltool", "toil"])
def test_ra2_cv_through_an_engine_gives_the_serial_tables(cv_cohort, serial_cv, engine):
    from submission.cv import fold_splits

    out = cv_cohort.parent / f"engine-{engine[1]}"
    before = hashes(cv_cohort)
    done = _cv(cv_cohort, out, *engine)
    assert "per-fold table" in done.stdout
    _same_tables(serial_cv, out)
    record = json.loads((out / "ra2-output.json").read_text())
    assert record["command"] == "cv" and "engine.log" in record["files"]
    assert sorted(p.name for p in out.iterdir()) == sorted([p.name for p in serial_cv.iterdir()] + ["engine.log"])
    first = (out / "engine.log").read_text().splitlines()[0]        # the engine's command line
    assert first.startswith("ra2: ") and "--no-container" in first
    assert {"cwltool": "bin/cwltool ", "toil": "bin/toil-cwl-runner "}[engine[1]] in first
    patients = sorted(pd.read_csv(cv_cohort / "train" / "training.csv")["Patient_ID"])
    for k, (_, te) in enumerate(fold_splits(patients, 2, SPLIT_SEED), start=1):
        rec = json.loads((out / f"fold{k}" / "fold.json").read_text())
        assert rec["seed"] == SEED and rec["split_seed"] == SPLIT_SEED and rec["fold"] == k
        assert rec["test_patients"] == [patients[i] for i in te]
        hidden = [p.name for p in (out / f"fold{k}").iterdir() if p.name.startswith(".")]
        assert not hidden, f"HOME ended up in the fold's folder: {hidden}"
    assert hashes(cv_cohort) == before
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")], "left outside --out"


# --------------------------------------------------------------------------- ra2 evaluate on the real Docker engine
def _evaluate(docker, *args, extra_env=None) -> subprocess.CompletedProcess:
    env = dict(docker.env, TQDM_DISABLE="1", **(extra_env or {}))
    return subprocess.run([sys.executable, "-m", "ra2", "evaluate", *map(str, args)], capture_output=True, text=True,
                          timeout=1200, env=env)


def _test_folder(cohort: Path, dest: Path) -> Path:
    shutil.copytree(cohort / "test", dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


@pytest.mark.container
def test_evaluate_runs_the_project_image_as_a_direct_docker_run_does(docker, image, container_cohort, tmp_path):
    from tests.test_container import _contract_run

    test_dir = _test_folder(container_cohort, tmp_path / "test")
    gold = container_cohort / "gold" / "test.csv"
    direct = _contract_run(docker, test_dir, tmp_path / "direct")
    assert direct.returncode == 0, direct.stdout[-3000:]
    before = hashes(test_dir, gold)
    done = _evaluate(docker, image, "--test", test_dir, "--gold", gold, "--out", tmp_path / "ev", "--scoring-image",
                     image, "--names", "project", "--n-boot", 50)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    run = tmp_path / "ev" / "runs" / "project"
    assert (run / "predictions.csv").read_bytes() == (tmp_path / "direct" / "predictions.csv").read_bytes()
    result = json.loads((run / "result.json").read_text())
    subprocess.run([sys.executable, "-m", "ra2", "score", tmp_path / "direct" / "predictions.csv", "--gold", gold,
                    "--json", tmp_path / "direct.json"], capture_output=True, check=True)
    scored = json.loads((tmp_path / "direct.json").read_text())
    assert result["status"] == "scored" and result["sc1"] == scored["official"]["sc1"]
    table = pd.read_csv(tmp_path / "ev" / "results.csv")
    assert list(table["status"]) == ["scored"] and "project: scored  SC1" in done.stdout
    assert (tmp_path / "ev" / "leaderboard" / "leaderboard.md").is_file()
    log = (run / "engine.log").read_text()
    assert log.startswith("ra2: ") and "--read-only=true" in log and "--net=none" in log
    assert "target=/test,readonly" in log and "target=/output" in log
    assert "patients: 3" in (run / "submission.log").read_text()
    assert hashes(test_dir, gold) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["direct", "direct.json", "ev", "test"]
    assert not (tmp_path / "ev" / ".work").exists()


BAD = {
    # sleeps past the limit, as process 1, which ignores SIGTERM (no handler): only a kill ends it
    "sleeper": 'echo "sleeping"; sleep 600',
    # writes a file that is not a predictions file
    "invalid": 'echo "writing a bad file"; printf "Patient_ID,foo\\nP1,1\\n" > /output/predictions.csv',
}


@pytest.fixture
def bad_images(docker, base_image):
    names = {}
    for name, script in BAD.items():
        tag = f"ra2-test-{name}:latest"
        dockerfile = (f"FROM {base_image}\nRUN mkdir -p /opt/ra2 && printf '#!/bin/sh\\n%s\\n' '{script}' > "
                      "/opt/ra2/run.sh && chmod 755 /opt/ra2/run.sh\n")
        done = subprocess.run(["docker", "build", "--network", "none", "-t", tag, "-"], input=dockerfile, text=True,
                              capture_output=True, env=docker.env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        names[name] = tag
    yield names
    docker("rmi", "--force", *names.values(), check=False)


@pytest.mark.container
@pytest.mark.parametrize("engine", ["cwltool", "toil"])
def test_evaluate_reports_a_timeout_and_an_invalid_file_and_does_not_rerun_them(docker, image, container_cohort,
                                                                                 bad_images, tmp_path, engine):
    test_dir = _test_folder(container_cohort, tmp_path / "test")
    gold = container_cohort / "gold" / "test.csv"
    args = [bad_images["sleeper"], bad_images["invalid"], "--test", test_dir, "--gold", gold, "--out",
            tmp_path / "ev", "--time-limit", 5, "--scoring-image", image, "--jobs", 2, "--engine", engine]
    done = _evaluate(docker, *args, extra_env={"RA2_DOCKER_GRACE": "2"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert "no valid submission: no leaderboard" in done.stderr and "Traceback" not in done.stderr
    table = pd.read_csv(tmp_path / "ev" / "results.csv").set_index("name")
    sleeper, invalid = "ra2-test-sleeper_latest", "ra2-test-invalid_latest"
    assert table.loc[sleeper, "status"] == "timed out", table.loc[sleeper, "message"]
    assert not (tmp_path / "ev" / "runs" / sleeper / "predictions.csv").exists()
    assert "exceeded time limit of 5 seconds" in (tmp_path / "ev" / "runs" / sleeper / "engine.log").read_text() + \
        "".join(p.read_text() for p in (tmp_path / "ev" / "runs" / sleeper).glob("job-*"))
    assert table.loc[invalid, "status"] == "invalid"
    assert table.loc[invalid, "message"] == ("ra2 validate: error: predictions.csv, column Overall_Tol: "
                                             "required column is missing")
    assert "required column is missing" in (tmp_path / "ev" / "runs" / invalid / "validation.txt").read_text()
    first = hashes(tmp_path / "ev")
    again = _evaluate(docker, *args)
    assert again.returncode == 0 and again.stdout.count("(earlier run)") == 2, again.stdout + again.stderr
    assert hashes(tmp_path / "ev") == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ev", "test"]


@pytest.mark.parametrize("extra, message", [
    (["--test", "nowhere"], "--test nowhere: no template.csv there"),
    (["--names", "a", "b"], "--names: 2 name(s) for 1 image(s)"),
    (["--names", "a/b"], "--names a/b: use letters, digits"),
    (["--time-limit", "0"], "--time-limit 0: must be at least 1 second"),
    (["--engine", "toil", "--gpus", "1", "--jobs", "2"], "--gpus with --engine toil and --jobs above 1 needs --singularity"),
    (["--batch-system", "slurm"], "--batch-system is an option of --engine toil, not of --engine cwltool"),
])
def test_ra2_evaluate_refuses_bad_options_before_any_run(capsys, tmp_path, cv_cohort, extra, message):
    args = ["evaluate", "some-image:v1", "--test", cv_cohort / "test", "--gold", cv_cohort / "gold" / "test.csv",
            "--out", tmp_path / "ev"]
    if "--test" in extra:
        args[3] = extra[1]
        extra = extra[2:]
    code, out, err = ra2(capsys, *args, *extra)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "ev").exists()


def test_ra2_evaluate_leaves_a_folder_that_is_not_its_own_alone(capsys, tmp_path, cv_cohort):
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "notes.txt").write_text("mine")
    code, out, err = ra2(capsys, "evaluate", "some-image:v1", "--test", cv_cohort / "test", "--gold",
                         cv_cohort / "gold" / "test.csv", "--out", tmp_path / "ev")
    assert code == 2 and "not a folder that ra2 evaluate wrote" in err, err
    assert [p.name for p in (tmp_path / "ev").iterdir()] == ["notes.txt"]
