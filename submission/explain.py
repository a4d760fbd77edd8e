"""``explain``: which patch predictions the stacker leans on (mean |SHAP| of its trees).

For every joint column's ExtraTrees, ``shap.TreeExplainer`` gives the SHAP
value of each of the 86 patch predictions (and of the eight limb means, for a
stacker that sees them) on the out-of-fold features the stacker was fitted on;
the mean absolute value is one row of an 86 × 86 (or 86 × 94) contribution
matrix.  Folded by side it gives, per limb kind, the paper's two maps: *same
side* (a left-hand joint explained by left-hand patches, averaged with right by
right) and *other side* (explained by the mirror limb); the limb means stay in
the full matrix (``shap_all.csv``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from challenge.catalogue import JOINT_COLUMNS, KIND_LIMBS, KINDS, joint_names, mirror

from .bundle import Bundle


def contribution_matrix(stacker, features: np.ndarray) -> pd.DataFrame:
    """Mean |SHAP| (target column × feature column): rows in ``JOINT_COLUMNS`` order, columns the
    stacker's ``feature_names``."""
    import shap

    x = stacker.features(stacker.fill_missing(features))
    rows = [np.abs(shap.TreeExplainer(m).shap_values(x)).mean(axis=0) for m in stacker.models_]
    return pd.DataFrame(np.array(rows), index=list(JOINT_COLUMNS), columns=stacker.feature_names())


def fold_sides(matrix: pd.DataFrame, kind: str, other: bool) -> pd.DataFrame:
    """(joint names × joint names) of one limb kind, averaged over both sides."""
    names = list(joint_names(kind))
    parts = []
    for limb in KIND_LIMBS[kind]:
        src = mirror(limb) if other else limb
        parts.append(matrix.loc[[f"{limb}_{n}" for n in names], [f"{src}_{n}" for n in names]].to_numpy())
    return pd.DataFrame(np.mean(parts, axis=0), index=names, columns=names)


def heatmap_png(frame: pd.DataFrame, title: str, path: Path) -> Path:
    """A labelled heatmap (rows = predicted joint, columns = contributing patch prediction)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(frame)
    fig = Figure(figsize=(2 + 0.28 * n, 1.5 + 0.28 * n), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(frame.to_numpy(), cmap="viridis")
    ax.set_xticks(range(n), frame.columns, rotation=90, fontsize=6)
    ax.set_yticks(range(n), frame.index, fontsize=6)
    ax.set_xlabel("patch prediction (feature)")
    ax.set_ylabel("predicted joint")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="mean |SHAP| (log2 score units)")
    fig.tight_layout()
    fig.savefig(path)
    return path


def explain_bundle(bundle_dir, out_dir) -> list[Path]:
    """Write the full matrix and the same-side / other-side maps (CSV and PNG) per limb kind into
    ``out_dir``, a folder swapped in whole (new, empty or an earlier ``ra2 explain`` output)."""
    from challenge.errors import UsageError
    from challenge.outputs import check_replaceable, staged_folder

    out_dir = Path(out_dir)
    check_replaceable(out_dir, "explain")
    bundle = Bundle.load(bundle_dir)
    if not bundle.settings.stack:
        raise UsageError(f"{bundle_dir}: trained with --no-stack: there is no stacker to explain")
    stacker = bundle.load_stacker()
    features = pd.read_csv(bundle.path(bundle.FEATURES), index_col=0)[list(JOINT_COLUMNS)].to_numpy()
    matrix = contribution_matrix(stacker, features)
    names = ["shap_all.csv"]
    with staged_folder(out_dir, "explain") as tmp:
        matrix.to_csv(tmp / names[0])
        for kind in KINDS:
            for other in (False, True):
                label = "other_side" if other else "same_side"
                frame = fold_sides(matrix, kind, other)
                frame.to_csv(tmp / f"shap_{kind}_{label}.csv")
                heatmap_png(frame, f"{kind}: {label.replace('_', ' ')} contributions", tmp / f"shap_{kind}_{label}.png")
                names += [f"shap_{kind}_{label}.csv", f"shap_{kind}_{label}.png"]
    return [out_dir / name for name in names]
