"""The evaluator's work on files: score, compare and rank prediction files (what ``ra2 score``,
``ra2 compare`` and ``ra2 leaderboard`` print, and what ``ra2 demo`` calls).

Every file is validated first (``checks``); a predictions file with errors raises ``InvalidFile``,
an unusable file or a parameter out of range a ``UsageError`` (``ParameterError`` naming the
parameter).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from challenge.errors import ParameterError, UsageError, listed

#: what ``leaderboard_files`` writes into ``out_dir``
LEADERBOARD_FILES = ("leaderboard.md", "leaderboard.csv", "leaderboard.json", "leaderboard.png", "report.html")


def score_files(pred_path, gold_path) -> dict:
    """Official and paper metrics of one predictions file (validated first)."""
    from .checks import load_gold, load_predictions
    from .official import score_frames
    from .stats import agreement

    gold = load_gold(gold_path)
    pred = load_predictions(pred_path, gold)
    return {
        "prediction": str(pred_path), "gold": str(gold_path), "patients": int(len(gold.frame)),
        "official": score_frames(pred.frame, gold.frame),
        "paper": agreement(pred.frame, gold.frame),
        "warnings": [str(w) for w in gold.warnings + pred.warnings],
    }


def compare_files(a_path, b_path, gold_path, reader2_path=None) -> dict:
    """Per-patient paired Wilcoxon tests of A against B on every official metric."""
    from .checks import load_gold, load_predictions
    from .official import OFFICIAL, RMSE, per_patient, score_frames
    from .stats import agreement, paired_wilcoxon

    gold = load_gold(gold_path)
    a, b = load_predictions(a_path, gold), load_predictions(b_path, gold)
    ea, eb = per_patient(a.frame, gold.frame), per_patient(b.frame, gold.frame)
    out = {"a": str(a_path), "b": str(b_path), "gold": str(gold_path), "patients": int(len(gold.frame)),
           "official": {"a": score_frames(a.frame, gold.frame), "b": score_frames(b.frame, gold.frame)},
           "paper": {"a": agreement(a.frame, gold.frame), "b": agreement(b.frame, gold.frame)},
           "tests": {}}
    zero_a, zero_b = out["official"]["a"]["sc2"] is None, out["official"]["b"]["sc2"] is None
    for m in OFFICIAL:
        if m.kind == RMSE and (zero_a or zero_b):
            out["tests"][m.key] = None
            continue
        out["tests"][m.key] = paired_wilcoxon(ea[m.key].to_numpy(), eb[m.key].to_numpy()).as_dict()
    if reader2_path is not None:
        r2 = load_predictions(reader2_path, gold)
        out["reader2"] = {"path": str(reader2_path), "official": score_frames(r2.frame, gold.frame),
                          "paper": agreement(r2.frame, gold.frame)}
    return out


def compare_folds(table_path, a: str, b: str) -> dict:
    """Paired Wilcoxon tests of method A against method B over cross-validation folds."""
    from .stats import paired_wilcoxon

    try:
        table = pd.read_csv(table_path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise UsageError(f"{table_path}: cannot read the per-fold table ({exc})") from exc
    for col in ("fold", "method"):
        if col not in table.columns:
            raise UsageError(f"{table_path}: the per-fold table has no {col!r} column")
    methods = sorted(table["method"].astype(str).unique())
    for m in (a, b):
        if m not in methods:
            raise UsageError(f"{table_path}: no method {m!r} in the table (it has {', '.join(methods)})")
    metrics = [c for c in table.columns if c not in ("fold", "method") and pd.api.types.is_numeric_dtype(table[c])]
    ta = table[table["method"].astype(str) == a].set_index("fold")
    tb = table[table["method"].astype(str) == b].set_index("fold")
    folds = sorted(set(ta.index) & set(tb.index))
    if not folds:
        raise UsageError(f"{table_path}: methods {a!r} and {b!r} share no fold")
    out = {"table": str(table_path), "a": a, "b": b, "folds": [int(f) if str(f).isdigit() else f for f in folds],
           "mean": {}, "tests": {}}
    for m in metrics:
        xa, xb = ta.loc[folds, m].to_numpy(float), tb.loc[folds, m].to_numpy(float)
        keep = ~(pd.isna(xa) | pd.isna(xb))
        out["mean"][m] = {"a": float(xa[keep].mean()) if keep.any() else None,
                          "b": float(xb[keep].mean()) if keep.any() else None}
        out["tests"][m] = paired_wilcoxon(xa[keep], xb[keep]).as_dict()
    return out


def team_names(paths, names=None) -> list[str]:
    if names:
        if len(names) != len(paths):
            raise ParameterError("names", " ".join(map(str, names)),
                                 f"{len(names)} name(s) for {len(paths)} prediction file(s)")
        return list(names)
    stems = [Path(p).stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    return [str(Path(p).with_suffix("")) for p in paths]


def leaderboard_files(paths, gold_path, *, names=None, reader2=None, n_boot=1000, seed=0, tie_k=3.0,
                      out_dir=None) -> dict:
    """Bootstrap leaderboard of prediction files; writes md/csv/json/png into ``out_dir`` if given."""
    from .checks import load_gold, load_predictions
    from .official import score_frames
    from .report import leaderboard_frame, leaderboard_markdown, plot_bootstrap
    from .stats import bootstrap_ranking

    if n_boot < 1:
        raise ParameterError("n_boot", n_boot, "must be at least 1")
    if not 0 <= seed < 2 ** 32:
        raise ParameterError("seed", seed, f"must be between 0 and {2 ** 32 - 1}")
    if not tie_k >= 0:
        raise ParameterError("tie_k", tie_k, "must be a number of at least 0")
    check_distinct_files(paths)
    if out_dir is not None:
        check_leaderboard_folder(out_dir, [*paths, gold_path, reader2])
    gold = load_gold(gold_path)
    teams = team_names(paths, names)
    if len(set(teams)) != len(teams):
        raise UsageError(f"team names must be unique: {listed(sorted({t for t in teams if teams.count(t) > 1}))} "
                         "given more than once")
    preds = {t: load_predictions(p, gold).frame for t, p in zip(teams, paths)}
    ranking = bootstrap_ranking(preds, gold.frame, n_boot=n_boot, seed=seed, tie_k=tie_k)
    upper = score_frames(load_predictions(reader2, gold).frame, gold.frame) if reader2 else None
    frame = leaderboard_frame(ranking, upper)
    markdown = leaderboard_markdown(frame, tie_k, n_boot)
    result = {"ranking": {k: v for k, v in ranking.items() if k != "metrics"},
              "metrics": {k: {kk: vv for kk, vv in m.items() if kk != "samples"}
                          for k, m in ranking["metrics"].items()},
              "reader2": upper, "table": frame.to_dict(orient="records"), "markdown": markdown}
    if out_dir is not None:
        from challenge.outputs import write_csv, write_json, write_text

        out_dir = Path(out_dir)
        write_text(out_dir / "leaderboard.md", markdown + "\n")
        write_csv(out_dir / "leaderboard.csv", frame)
        write_json(out_dir / "leaderboard.json", result)
        plot_bootstrap(ranking, out_dir / "leaderboard.png", upper)
        from .html_report import write_leaderboard_html
        write_leaderboard_html(result, out_dir)            # one self-contained page: table and plot
        result["files"] = [str(out_dir / f) for f in LEADERBOARD_FILES]
    return result


def check_distinct_files(paths) -> None:
    """Each prediction file of a leaderboard once: a file given twice (by any path to it) is named."""
    seen = {}
    for p in paths:
        key = Path(p).resolve()
        if key in seen:
            same = "" if str(seen[key]) == str(p) else f" (as {seen[key]})"
            raise UsageError(f"{p}: the same predictions file is given twice{same}; give each team's file once")
        seen[key] = p


def check_leaderboard_folder(out_dir, inputs) -> None:
    """``out_dir`` of the leaderboard: a writable folder, none of whose five files is an input."""
    from challenge.outputs import check_output_file, check_output_folder

    inputs = [p for p in inputs if p is not None]
    check_output_folder(out_dir, "out_dir", [p for p in inputs if Path(p).is_dir()])
    for name in LEADERBOARD_FILES:
        check_output_file(Path(out_dir) / name, "out_dir", inputs)
