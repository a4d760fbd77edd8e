"""The submission image, built and run the way the challenge ran containers.

The ``container`` tests start a private Docker engine when none answers
(container/engine.sh; needs root), build a local Debian base when no registry
is reachable (container/make-base.sh), train a bundle on a tiny phantom cohort,
build the image with it (CPU TensorFlow, pinned to the versions installed here)
and run it with ``--network none --read-only --tmpfs /tmp --user 1000:1000``.

The other tests run ``run.sh`` outside a container, with its paths moved by the
``RA2_*`` variables: its fallback, its refusals and (slow) its training branch.

Figures: set RA2_CONTAINER_TIMES=FILE to have the build and run times appended there.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from challenge.tables import read_scores

from tests.conftest import IMAGE, REPO, _ra2, _record, _run

#: predictions in and out of the container agree this closely: same library versions, same CPU code paths;
#: what is left is float summation order under a different thread count, far below the 4-decimal rounding
#: of the written file's neighbours and the 0.5 steps of the scores themselves
TOLERANCE = 1e-3
CORRUPT, MISSING = "PHX0001-LH", "PHX0002-RF"


def _contract_run(docker, test_dir: Path, out_dir: Path) -> subprocess.CompletedProcess:
    """docker run as the challenge ran submissions; returns the finished process (log in stdout)."""
    out_dir.mkdir(parents=True)
    out_dir.chmod(0o777)                   # the container's user 1000 writes here
    for path in [test_dir, *test_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    start = time.time()
    done = docker("run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp", "--user", "1000:1000",
                  "-v", f"{test_dir}:/test:ro", "-v", f"{out_dir}:/output", IMAGE, timeout=900, check=False)
    _record(f"docker run ({test_dir.name})", time.time() - start)
    return done


def _predict_outside(bundle: Path, test_dir: Path, out: Path) -> Path:
    _ra2("predict", "--bundle", bundle, "--images", test_dir, "--template", test_dir / "template.csv", "--out", out)
    return out


def _assert_same(inside: Path, outside: Path) -> None:
    a, b = read_scores(inside), read_scores(outside)
    assert list(a.index) == list(b.index)
    diff = np.abs(a.to_numpy() - b.loc[a.index, a.columns].to_numpy())
    assert diff.max() <= TOLERANCE, f"container and host differ by up to {diff.max():.2e} (column " \
                                    f"{a.columns[diff.max(axis=0).argmax()]})"


# --------------------------------------------------------------------------- the container tests

@pytest.mark.container
def test_container_predicts_like_the_host(docker, image, container_bundle, container_cohort, tmp_path):
    test_dir = tmp_path / "test"
    shutil.copytree(container_cohort / "test", test_dir)
    done = _contract_run(docker, test_dir, tmp_path / "out")
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["predictions.csv"], "stray files in /output"
    assert "user 1000:1000" in log and "model bundle /opt/ra2/bundle" in log
    assert "ERROR" not in log and "fallback" not in log, log[-6000:]
    assert "patients: 3" in log and "images that failed: 0" in log and "device: tensorflow (CPU)" in log
    pred = tmp_path / "out" / "predictions.csv"
    _ra2("validate", "--template", test_dir / "template.csv", pred)
    _assert_same(pred, _predict_outside(container_bundle, test_dir, tmp_path / "host.csv"))


@pytest.mark.container
def test_container_survives_a_corrupt_and_a_missing_image(docker, image, container_bundle, container_cohort, tmp_path):
    test_dir = tmp_path / "test"
    shutil.copytree(container_cohort / "test", test_dir)
    (test_dir / f"{CORRUPT}.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG any more")
    (test_dir / f"{MISSING}.jpg").unlink()
    done = _contract_run(docker, test_dir, tmp_path / "out")
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert "images that failed: 2" in log, log[-6000:]
    assert f"failed image {CORRUPT}.jpg" in log and f"failed image {MISSING}" in log, log[-6000:]
    pred = tmp_path / "out" / "predictions.csv"
    _ra2("validate", "--template", test_dir / "template.csv", pred)
    _assert_same(pred, _predict_outside(container_bundle, test_dir, tmp_path / "host.csv"))


@pytest.mark.container
def test_container_without_template_fails_clearly(docker, image, tmp_path):
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    done = _contract_run(docker, test_dir, tmp_path / "out")
    assert done.returncode != 0
    assert "cannot read the template /test/template.csv" in done.stdout + done.stderr
    assert not any((tmp_path / "out").iterdir())


# --------------------------------------------------------------------------- run.sh outside a container

def _run_sh(tmp_path: Path, test_dir: Path, *, bundle: Path | None = None, train_dir: Path | None = None,
            train_args: str = "") -> subprocess.CompletedProcess:
    """run.sh with its paths moved under tmp_path; this interpreter's ra2 and python3 first on PATH."""
    (tmp_path / "out").mkdir(exist_ok=True)
    (tmp_path / "scratch").mkdir(exist_ok=True)
    env = dict(os.environ,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               RA2_TEST_DIR=str(test_dir), RA2_OUTPUT_DIR=str(tmp_path / "out"),
               RA2_SCRATCH=str(tmp_path / "scratch"),
               RA2_BUNDLE=str(bundle or tmp_path / "no-bundle"),
               RA2_TRAIN_DIR=str(train_dir or tmp_path / "no-train"),
               RA2_TRAIN_ARGS=train_args)
    return _run(["bash", REPO / "run.sh"], env=env, timeout=1200, check=False)


def _template(test_dir: Path, patients) -> Path:
    from challenge.tables import template_frame, write_atomic

    test_dir.mkdir(parents=True, exist_ok=True)
    return write_atomic(template_frame(patients), test_dir / "template.csv")


def test_run_sh_without_a_model_writes_the_fallback(tmp_path):
    test_dir = tmp_path / "test"
    _template(test_dir, ["P1", "P2"])
    (test_dir / "P1-LH.jpg").write_bytes(b"not an image")
    done = _run_sh(tmp_path, test_dir)
    assert done.returncode == 0, done.stdout
    assert "ERROR: no model to predict with" in done.stdout
    assert "template " in done.stdout and "2 patients" in done.stdout
    scores = read_scores(tmp_path / "out" / "predictions.csv")
    assert list(scores.index) == ["P1", "P2"] and (scores.to_numpy() == 0).all()
    assert not any((tmp_path / "scratch").iterdir()), "run.sh left its scratch folder behind"


@pytest.mark.parametrize("content, message", [
    (None, "cannot read the template"),
    ("Patient_ID,foo\nP1,\n", "cannot be used"),
])
def test_run_sh_refuses_an_unusable_template(tmp_path, content, message):
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    if content is not None:
        (test_dir / "template.csv").write_text(content)
    done = _run_sh(tmp_path, test_dir)
    assert done.returncode == 1
    assert message in done.stdout
    assert not any((tmp_path / "out").iterdir())


@pytest.mark.slow
def test_run_sh_trains_when_the_image_has_no_bundle(tmp_path):
    root = tmp_path / "phantom"
    _ra2("synth", "--out", root, "--train", 6, "--test", 2, "--seed", 7, "--size-scale", 0.5, "-q")
    done = _run_sh(tmp_path, root / "test", train_dir=root / "train", train_args="--quick")
    assert done.returncode == 0, done.stdout[-6000:]
    assert "training one from" in done.stdout and "training done" in done.stdout
    assert "ERROR" not in done.stdout and "patients: 2" in done.stdout
    _ra2("validate", "--template", root / "test" / "template.csv", tmp_path / "out" / "predictions.csv")
