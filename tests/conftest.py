import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from challenge import catalogue as cat
from challenge.tables import with_totals


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
    from submission.bundle import PROFILES, Bundle

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
