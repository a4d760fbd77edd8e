"""House rules that keep scoring light: challenge/, evaluator/, phantoms/, download/ and review/ never import
Keras or TensorFlow, nor does the method's numpy side (its geometry, units, data reading, bundle, stacker
and overlays)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _heavy_after(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, then exit 1 listing any deep-learning module it imported."""
    code += ("\nbad = sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'torch', 'jax', "
             "'shap'))\nprint(bad[:5]); sys.exit(1 if bad else 0)\n")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)


def test_scoring_packages_do_not_import_keras():
    modules = [f"{pkg}.{p.stem}" for pkg in ("challenge", "evaluator", "phantoms", "download", "review")
               for p in (ROOT / pkg).glob("*.py")]
    res = _heavy_after("import importlib, sys\n"
                       f"for m in {modules!r}: importlib.import_module(m)\n"
                       "import ra2.cli; ra2.cli.build_parser()\n")
    assert res.returncode == 0, res.stdout + res.stderr


def test_method_numpy_side_does_not_import_keras():
    modules = ["submission.geometry", "submission.units", "submission.data", "submission.overlays",
               "submission.bundle", "submission.stack"]
    res = _heavy_after("import importlib, sys\n"
                       "import numpy as np\n"
                       f"for m in {modules!r}: importlib.import_module(m)\n"
                       "from submission import geometry, units\n"
                       "img = np.random.default_rng(0).random((90, 70)).astype(np.float32)\n"
                       "geometry.canonical(img, 'RH', 32)\n"
                       "geometry.refine_frame(img, 'LF', 0.01)\n"
                       "geometry.extract_patches(img, 'RF', np.array([[30.0, 40.0]]), patch=16, patch_scale=1.0)\n"
                       "units.to_unit(np.zeros(len(units.kind_columns('hand'))), 'hand')\n"
                       "from submission.data import RefinerSamples\n"
                       "RefinerSamples(context=16, pitch=0.02).add(img, 'RH', np.array([[30.0, 40.0]]))\n")
    assert res.returncode == 0, res.stdout + res.stderr
