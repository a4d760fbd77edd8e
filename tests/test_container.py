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

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pytest

from challenge.tables import read_scores

REPO = Path(__file__).resolve().parents[1]
ENGINE = REPO / "container" / "engine.sh"
MAKE_BASE = REPO / "container" / "make-base.sh"
IMAGE = "ra2-submission:container-test"
LABEL = "ra2.container-test=1"
LOCAL_BASE = "ra2-base:bookworm"
REGISTRY_BASE = "python:3.11-slim"
#: packages whose version changes numbers or bundle loading: pinned in the image to the versions here
PINNED = ("tensorflow-cpu", "keras", "numpy", "scipy", "scikit-learn", "pillow", "pandas", "h5py", "ml-dtypes")
#: predictions in and out of the container agree this closely: same library versions, same CPU code paths;
#: what is left is float summation order under a different thread count, far below the 4-decimal rounding
#: of the written file's neighbours and the 0.5 steps of the scores themselves
TOLERANCE = 1e-3
CORRUPT, MISSING = "PHX0001-LH", "PHX0002-RF"


def _run(cmd, *, env=None, timeout=600, check=True, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], check=False, env=env, timeout=timeout, capture_output=True, text=True, **kw)
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {done.returncode}\n--- stdout\n{done.stdout[-6000:]}"
                    f"\n--- stderr\n{done.stderr[-6000:]}")
    return done


def _ra2(*args, **kw) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "ra2", *args], **kw)


def _record(name: str, seconds: float) -> None:
    """Append a timing to $RA2_CONTAINER_TIMES (for docs/container.md), if set."""
    path = os.environ.get("RA2_CONTAINER_TIMES")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"what": name, "seconds": round(seconds, 1)}) + "\n")


# --------------------------------------------------------------------------- the engine and the base image

class Docker:
    """The docker client pointed at one engine."""

    def __init__(self, env: dict):
        self.env = env

    def __call__(self, *args, timeout=600, check=True) -> subprocess.CompletedProcess:
        return _run(["docker", *args], env=self.env, timeout=timeout, check=check)

    def answers(self) -> bool:
        try:
            return self("version", "--format", "{{.Server.Version}}", timeout=30, check=False).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def has_image(self, name: str) -> bool:
        return self("image", "inspect", name, check=False).returncode == 0


@pytest.fixture(scope="session")
def docker():
    """A Docker engine: one that answers already, else a private one started here and stopped afterwards."""
    env = dict(os.environ)
    if shutil.which("docker") and Docker(env).answers():
        yield Docker(env)
        return
    running = _run(["bash", ENGINE, "status"], check=False)      # our private engine, started earlier
    if running.returncode == 0:
        env["DOCKER_HOST"] = running.stdout.strip().split("=", 1)[1]
        yield Docker(env)
        return
    if os.geteuid() != 0:
        pytest.skip("no Docker engine answers, and starting one (container/engine.sh) needs root")
    if not shutil.which("dockerd") and not shutil.which("apt-get"):
        pytest.skip("no dockerd here and no apt-get to install it (container/engine.sh install)")
    _run(["bash", ENGINE, "install"], timeout=900)
    host = _run(["bash", ENGINE, "start"], timeout=120).stdout.strip().splitlines()[-1]
    assert host.startswith("DOCKER_HOST="), host
    env["DOCKER_HOST"] = host.split("=", 1)[1]
    client = Docker(env)
    assert client.answers(), "container/engine.sh started an engine that does not answer"
    try:
        yield client
    finally:
        _run(["bash", ENGINE, "stop"], timeout=120, check=False)


@pytest.fixture(scope="session")
def base_image(docker) -> str:
    """python:3.11-slim where a registry gives it, else a Debian base built here with debootstrap."""
    if docker.has_image(REGISTRY_BASE):
        return REGISTRY_BASE
    if docker("pull", REGISTRY_BASE, timeout=300, check=False).returncode == 0:
        return REGISTRY_BASE
    if not docker.has_image(LOCAL_BASE):
        if not shutil.which("debootstrap"):
            _run(["bash", ENGINE, "install"], timeout=900)
        start = time.time()
        _run(["bash", MAKE_BASE, LOCAL_BASE], env=docker.env, timeout=1200)
        _record("base image (debootstrap + import)", time.time() - start)
    return LOCAL_BASE


# --------------------------------------------------------------------------- the cohort, the bundle, the image

@pytest.fixture(scope="session")
def cohort(tmp_path_factory) -> Path:
    """A tiny phantom cohort: 6 training and 3 test patients, images at half size."""
    root = tmp_path_factory.mktemp("cohort") / "phantom"
    _ra2("synth", "--out", root, "--train", 6, "--test", 3, "--seed", 5, "--size-scale", 0.5, "-q")
    return root


@pytest.fixture(scope="session")
def bundle(cohort) -> Path:
    """A quick bundle, inside the build context (bundles/) as the Dockerfile's BUNDLE argument needs."""
    out = REPO / "bundles" / f".container-test-{uuid.uuid4().hex[:8]}"
    try:
        start = time.time()
        _ra2("train", "--data", cohort / "train", "--out", out, "--quick", timeout=1200)
        _record("ra2 train --quick (6 patients, host)", time.time() - start)
        yield out
    finally:
        shutil.rmtree(out, ignore_errors=True)
        if REPO.joinpath("bundles").is_dir() and not any(REPO.joinpath("bundles").iterdir()):
            REPO.joinpath("bundles").rmdir()


def _pins() -> str:
    pins = []
    for name in PINNED:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pass
    return " ".join(pins)


@pytest.fixture(scope="session")
def image(docker, base_image, bundle):
    """The submission image with the bundle, CPU TensorFlow at this environment's versions."""
    # --force-rm: a failed step leaves no stopped container; the label lets the teardown find
    # the image this build untags (the previous test image), which would else pile up 2 GB a run
    args = ["build", "--network", "host", "--force-rm", "-t", IMAGE, "--label", LABEL,
            "--build-arg", f"BASE={base_image}",
            "--build-arg", "TF_PACKAGE=tensorflow-cpu",
            "--build-arg", f"PINS={_pins()}",
            "--build-arg", f"BUNDLE={bundle.relative_to(REPO)}"]
    if Path("/etc/ssl/certs/ca-certificates.crt").is_file():
        args += ["--build-arg", "PIP_CERT=/etc/ssl/certs/ca-certificates.crt"]
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        if os.environ.get(var):
            args += ["--build-arg", f"{var}={os.environ[var]}"]
    start = time.time()
    docker(*args, str(REPO), timeout=2400)
    _record("docker build (bundle layer at least)", time.time() - start)
    yield IMAGE
    # keep the tagged image (its layers are the next build's cache), drop the ones it replaced
    docker("image", "prune", "--force", "--filter", f"label={LABEL}", timeout=300, check=False)


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
def test_container_predicts_like_the_host(docker, image, bundle, cohort, tmp_path):
    test_dir = tmp_path / "test"
    shutil.copytree(cohort / "test", test_dir)
    done = _contract_run(docker, test_dir, tmp_path / "out")
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["predictions.csv"], "stray files in /output"
    assert "user 1000:1000" in log and "model bundle /opt/ra2/bundle" in log
    assert "ERROR" not in log and "fallback" not in log, log[-6000:]
    assert "patients: 3" in log and "images that failed: 0" in log and "device: tensorflow (CPU)" in log
    pred = tmp_path / "out" / "predictions.csv"
    _ra2("validate", "--template", test_dir / "template.csv", pred)
    _assert_same(pred, _predict_outside(bundle, test_dir, tmp_path / "host.csv"))


@pytest.mark.container
def test_container_survives_a_corrupt_and_a_missing_image(docker, image, bundle, cohort, tmp_path):
    test_dir = tmp_path / "test"
    shutil.copytree(cohort / "test", test_dir)
    (test_dir / f"{CORRUPT}.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG any more")
    (test_dir / f"{MISSING}.jpg").unlink()
    done = _contract_run(docker, test_dir, tmp_path / "out")
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert "images that failed: 2" in log, log[-6000:]
    assert f"failed image {CORRUPT}.jpg" in log and f"failed image {MISSING}" in log, log[-6000:]
    pred = tmp_path / "out" / "predictions.csv"
    _ra2("validate", "--template", test_dir / "template.csv", pred)
    _assert_same(pred, _predict_outside(bundle, test_dir, tmp_path / "host.csv"))


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
