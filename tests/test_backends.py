"""The model tests under each Keras backend the project supports (a fresh process per backend)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_model_tests_pass_on_backend(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = dict(os.environ, KERAS_BACKEND=backend)
    code = (f"import keras, sys; assert keras.backend.backend() == {backend!r}, keras.backend.backend(); "
            "import pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-m', 'not slow', "
            "'tests/test_method.py']))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def test_no_tensorflow_import_in_the_method():
    for path in (ROOT / "submission").glob("*.py"):
        text = path.read_text()
        assert "import tensorflow" not in text and "from tensorflow" not in text, path
