"""``ra2 cv``: the options it refuses before any work.

The cross-validations themselves (serial, one fold per job through a CWL engine, ``ra2 cv merge``
of several seeds, ``--split-seed``) are in tests/test_workflows.py; ``--budget`` in test_budget.py;
an empty ``--data`` in test_bad_inputs_more.py; replacing only a folder of its own in test_outputs.py."""
from __future__ import annotations

import pytest

from tests.test_train import cohort, refused, train  # noqa: F401 -- the training folder fixtures of the train tests


@pytest.mark.parametrize("folds", ["0", "1", "5", "40"])
def test_cv_folds_between_two_and_the_number_of_patients(capsys, train, tmp_path, folds):
    err = refused(capsys, train, tmp_path, "--folds", folds, command="cv")
    assert f"--folds {folds}: must be between 2 and 4" in err
