"""House rules that keep scoring light: challenge/, evaluator/, phantoms/, download/ and review/ never import
Keras or TensorFlow."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_scoring_packages_do_not_import_keras():
    modules = [f"{pkg}.{p.stem}" for pkg in ("challenge", "evaluator", "phantoms", "download", "review")
               for p in (ROOT / pkg).glob("*.py")]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "import ra2.cli; ra2.cli.build_parser()\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'torch', 'jax', 'shap'))\n"
            "print(bad[:5]); sys.exit(1 if bad else 0)\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr

