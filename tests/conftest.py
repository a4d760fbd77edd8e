import hashlib
import importlib.util
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
import pandas as pd
import pytest

from challenge import catalogue as cat
from challenge.tables import with_totals

_spec = importlib.util.spec_from_file_location("badinput_make_corpus",
                                               Path(__file__).parent / "badinput" / "make_corpus.py")
make_corpus = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(make_corpus)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The bad-input corpus (tests/badinput/make_corpus.py), drawn once per test module that asks for it."""
    return make_corpus.make_corpus(tmp_path_factory.mktemp("badinput"))


def synth_cohort(root: Path, *, train: int, test: int, seed: int, size_scale: float) -> Path:
    """A realistic phantom cohort drawn by ``ra2 synth`` into ``root/c``."""
    from ra2.cli import main

    assert main(["synth", "--out", str(root / "c"), "--train", str(train), "--test", str(test),
                 "--size-scale", str(size_scale), "--seed", str(seed), "-q"]) == 0
    return root / "c"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A tiny phantom cohort (3 training and 2 test patients at 0.3 of the real sizes), drawn once per
    test module (a module may define its own)."""
    return synth_cohort(tmp_path_factory.mktemp("cohort"), train=3, test=2, seed=1, size_scale=0.3)


def random_scores(n, seed=0, ids=None, severity=0.6):
    """Integer gold-like scores for n patients (skewed: most joints 0), totals = sums."""
    rng = np.random.default_rng(seed)
    ids = ids or [f"P{i:04d}" for i in range(n)]
    sev = rng.gamma(0.6, 1.0, n) * severity
    frame = pd.DataFrame(0.0, index=pd.Index(ids, name=cat.ID), columns=list(cat.SCORE_COLUMNS))
    for j in cat.JOINTS:
        frame[j.column] = np.minimum(rng.poisson(sev), j.max_score).astype(float)
    return with_totals(frame)


@pytest.fixture
def gold_frame():
    return random_scores(30, seed=1)


def untrained_bundle(folder, scheme):
    """A bundle as ``ra2 train`` writes it (manifest, checksums, record) whose network files are
    placeholders: for what reads only the manifest, and for refusals that come before any network."""
    from challenge.outputs import staged_folder
    from submission.bundle import Bundle
    from submission.profiles import PROFILES

    bundle = Bundle(settings=PROFILES["quick"], scheme=scheme, kinds=("hand",), n_scorers={"hand": 1},
                    prior={c: 0.0 for c in cat.JOINT_COLUMNS})
    with staged_folder(folder, "train") as tmp:
        for name in bundle.files():
            (tmp / name).write_bytes(b"placeholder " + name.encode())
        bundle.save(tmp)
    bundle.folder = folder
    return folder


def hashes(*paths) -> dict:
    """SHA-256 of every file under ``paths`` (files or folders): to check that a command left its inputs as they were."""
    out = {}
    for p in map(Path, paths):
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        out.update({str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files})
    return out


# --------------------------------------------------------------------------- the Docker engine and the submission image
# (session fixtures of tests/test_container.py and tests/test_workflows.py: the engine is started, the base
# built and the image trained and built once per session, whichever of them runs first)

REPO = Path(__file__).resolve().parents[1]
ENGINE = REPO / "container" / "engine.sh"
MAKE_BASE = REPO / "container" / "make-base.sh"
IMAGE = "ra2-submission:container-test"
LABEL = "ra2.container-test=1"
LOCAL_BASE = "ra2-base:bookworm"
REGISTRY_BASE = "python:3.11-slim"
#: packages whose version changes numbers or bundle loading: pinned in the image to the versions here
PINNED = ("tensorflow-cpu", "keras", "numpy", "scipy", "scikit-learn", "pillow", "pandas", "h5py", "ml-dtypes")


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
def container_cohort(tmp_path_factory) -> Path:
    """A tiny phantom cohort: 6 training and 3 test patients, images at half size."""
    root = tmp_path_factory.mktemp("cohort") / "phantom"
    _ra2("synth", "--out", root, "--train", 6, "--test", 3, "--seed", 5, "--size-scale", 0.5, "-q")
    return root


@pytest.fixture(scope="session")
def container_bundle(container_cohort) -> Path:
    """A quick bundle, inside the build context (bundles/) as the Dockerfile's BUNDLE argument needs."""
    out = REPO / "bundles" / f".container-test-{uuid.uuid4().hex[:8]}"
    try:
        start = time.time()
        _ra2("train", "--data", container_cohort / "train", "--out", out, "--quick", timeout=1200)
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
def image(docker, base_image, container_bundle):
    """The submission image with the bundle, CPU TensorFlow at this environment's versions."""
    # --force-rm: a failed step leaves no stopped container; the label lets the teardown find
    # the image this build untags (the previous test image), which would else pile up 2 GB a run
    args = ["build", "--network", "host", "--force-rm", "-t", IMAGE, "--label", LABEL,
            "--build-arg", f"BASE={base_image}",
            "--build-arg", "TF_PACKAGE=tensorflow-cpu",
            "--build-arg", f"PINS={_pins()}",
            "--build-arg", f"BUNDLE={container_bundle.relative_to(REPO)}"]
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


# ------------------------------------------------------------------ DICOM files for the tests
def dicom_dataset(pixels: np.ndarray, *, photometric="MONOCHROME2", bits=12, **elements):
    """A single-image (or, for a 3-d array, multi-frame) secondary-capture DICOM dataset of ``pixels``,
    uncompressed; extra elements by keyword."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "DX", "PHT0001"
    frames = pixels.shape[0] if pixels.ndim == 3 else 1
    ds.set_pixel_data(pixels, photometric_interpretation=photometric, bits_stored=bits)
    if frames > 1:
        ds.NumberOfFrames = frames
    for key, value in elements.items():
        setattr(ds, key, value)
    return ds


def write_dicom(path, pixels: np.ndarray, *, photometric="MONOCHROME2", bits=12, syntax=None, preamble=True,
                **elements):
    """``dicom_dataset`` written to ``path`` (compressed with ``syntax`` if given); returns ``path``."""
    ds = dicom_dataset(pixels, photometric=photometric, bits=bits, **elements)
    if syntax is not None:
        ds.compress(syntax)
    ds.save_as(path, enforce_file_format=preamble)
    return path
