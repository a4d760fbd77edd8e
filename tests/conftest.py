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
