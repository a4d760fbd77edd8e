"""House rules.  Scoring stays light: challenge/, evaluator/, phantoms/, download/ and review/ never import
Keras or TensorFlow, nor does the method's numpy side (its geometry, units, data reading, bundle, stacker
and overlays).  The packages are layered (``LAYERS``): a package imports only packages of lower layers,
and no module imports itself back through others (imports inside functions count too)."""
import ast
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
               "submission.settings", "submission.bundle", "submission.profiles", "submission.stack"]
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


#: each package's layer: a package may import only packages of lower layers
#: (workflows runs the CWL engines and ranks with the evaluator; `ra2 cv --engine` in submission hands it the folds)
LAYERS = {"challenge": 0, "evaluator": 1, "phantoms": 1, "download": 1, "baselines": 1, "workflows": 1.5,
          "submission": 2, "review": 3, "ra2": 4}


def _import_graph() -> dict[str, set[str]]:
    """Module -> the project's modules it imports anywhere in its text (``from .x import y`` counts
    ``pkg.x`` and ``pkg.x.y``; a name that is not a module of ours is left out)."""
    packages = sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests")
    files = {(f"{pkg}.{f.stem}" if f.stem != "__init__" else pkg): f for pkg in packages
             for f in (ROOT / pkg).glob("*.py")}
    graph = {m: set() for m in files}
    for module, path in files.items():
        package = module.split(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = package + (f".{base}" if base else "")
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            graph[module] |= {n for n in names if n in files and n != module}
    return graph


def test_every_package_imports_only_lower_layers():
    graph = _import_graph()
    packages = {m.split(".")[0] for m in graph}
    assert packages <= set(LAYERS), f"place the new package(s) {sorted(packages - set(LAYERS))} in LAYERS"
    upward = sorted(f"{m} imports {t}" for m, ts in graph.items() for t in ts
                    if m.split(".")[0] != t.split(".")[0] and LAYERS[t.split(".")[0]] >= LAYERS[m.split(".")[0]])
    assert not upward, upward


def test_no_module_imports_itself_back_through_others():
    graph = _import_graph()
    cycles, done = [], set()

    def visit(module, path):
        for nxt in sorted(graph[module]):
            if nxt in path:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, path + [nxt])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert not cycles, [" -> ".join(c) for c in cycles]
