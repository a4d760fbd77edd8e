"""Human-readable output of the evaluator: text tables, Markdown and plots."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .official import METRICS, OFFICIAL, RANKED
from .stats import GROUPS


def fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "undefined"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.{digits}f}"


def official_table(results: dict[str, dict]) -> str:
    """Official metrics, one column per prediction (``results``: name -> official dict)."""
    names = list(results)
    width = max(12, *(len(n) for n in names))
    lines = [f"{'metric':<26}" + "".join(f"{n:>{width + 2}}" for n in names)]
    for m in OFFICIAL:
        lines.append(f"{m.label:<26}" + "".join(f"{fmt(results[n][m.key]):>{width + 2}}" for n in names))
    return "\n".join(lines)


def agreement_table(results: dict[str, dict]) -> str:
    """Pearson r / RMSE per damage type × limb, one column pair per prediction."""
    names = list(results)
    head = f"{'group (raw scale)':<20}" + "".join(f"{n + ' r':>16}{n + ' RMSE':>16}" for n in names)
    lines = [head]
    for damage, kind in GROUPS:
        g = f"{damage}_{kind}"
        lines.append(f"{damage + ', ' + kind:<20}" + "".join(
            f"{fmt(results[n]['groups'][g]['r'], 3):>16}{fmt(results[n]['groups'][g]['rmse'], 3):>16}"
            for n in names))
    return "\n".join(lines)


def leaderboard_frame(ranking: dict, upper: dict | None = None) -> pd.DataFrame:
    """One row per team: score, Bayes factor K and rank per ranked metric (best first on SC1)."""
    rows = []
    for t, name in enumerate(ranking["names"]):
        row = {"team": name}
        for key in RANKED:
            m = ranking["metrics"][key]
            row[key] = m["scores"][t]
            row[f"{key}_K"] = m["K"][t]
            row[f"{key}_rank"] = m["rank"][t]
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame = frame.sort_values([f"{RANKED[0]}_rank", RANKED[0]], na_position="last", kind="stable").reset_index(drop=True)
    if upper is not None:
        frame = pd.concat([frame, pd.DataFrame([{"team": "reader 2 (clinical upper limit)",
                                                 **{k: upper[k] for k in RANKED}}])], ignore_index=True)
    return frame


def leaderboard_markdown(frame: pd.DataFrame, tie_k: float, n_boot: int) -> str:
    head = ("| team | " + " | ".join(f"{METRICS[k].heading} | K | rank" for k in RANKED) + " |\n"
            "| --- |" + " ---: | ---: | ---: |" * len(RANKED))
    lines = [head]

    def cell_k(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "—"
        return fmt(v, 2)

    def cell_rank(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "—"
        return str(int(v))

    for _, r in frame.iterrows():
        cells = [str(r["team"])]
        for key in RANKED:
            cells += [fmt(r[key]), cell_k(r.get(f"{key}_K")), cell_rank(r.get(f"{key}_rank"))]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"K: Bayes factor against the best team over {n_boot} paired bootstrap resamples; "
                 f"K ≤ {tie_k:g} counts as tied with the best (rank 1). Lower scores are better.")
    return "\n".join(lines)


def plot_bootstrap(ranking: dict, path: str | Path, upper: dict | None = None) -> Path:
    """Box plots of each team's bootstrap distribution, one panel per ranked metric."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ranking["names"]
    fig, axes = plt.subplots(1, len(RANKED), figsize=(4.2 * len(RANKED), 0.5 * len(names) + 2.2), squeeze=False)
    for ax, key in zip(axes[0], RANKED):
        m = ranking["metrics"][key]
        ax.set_title(METRICS[key].heading)
        if m["samples"] is None:
            ax.text(0.5, 0.5, "undefined", ha="center", va="center", transform=ax.transAxes)
            continue
        data = [m["samples"][:, t] for t in range(len(names))]
        box = ax.boxplot(data, orientation="horizontal", tick_labels=names, showfliers=False, patch_artist=True)
        for t, patch in enumerate(box["boxes"]):
            patch.set_facecolor("#9ecae1" if m["tied"][t] else "#dddddd")
        if upper is not None and upper.get(key) is not None:
            ax.axvline(upper[key], color="#d62728", ls="--", lw=1, label="reader 2")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_xlabel("score (lower is better)")
        ax.invert_yaxis()
    fig.suptitle(f"Bootstrap distributions ({ranking['n_boot']} resamples, seed {ranking['seed']}); "
                 "blue = tied with the best")
    fig.tight_layout()
    from challenge.outputs import replacing

    path = Path(path)
    try:
        with replacing(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)
    return path
