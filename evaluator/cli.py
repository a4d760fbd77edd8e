"""``ra2 validate``, ``ra2 score``, ``ra2 compare`` and ``ra2 leaderboard``.

Exit codes: 0 success (``validate``: the file is valid), 1 the predictions file is
invalid, 2 unusable input (unreadable file, not a CSV, bad gold file, bad option).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from challenge.errors import UsageError


def register(sub) -> None:
    p = sub.add_parser("validate", help="check a predictions file against a template",
                       description="Check a predictions file against the template: columns (by name), patients, "
                                   "numbers. Exit 0 valid, 1 invalid, 2 unusable input.")
    p.add_argument("pred", help="predictions CSV")
    p.add_argument("--template", required=True, help="template.csv (Patient_ID filled, scores empty)")
    p.add_argument("--quiet", action="store_true", help="print errors only, no warnings")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("score", help="official SC1/SC2/SC3 and the paper's metrics",
                       description="Score a predictions file against gold exactly as the organisers did "
                                   "(SC2 = narrowing, SC3 = erosion), plus Pearson r / RMSE per damage type and limb.")
    p.add_argument("pred", help="predictions CSV")
    p.add_argument("--gold", required=True, help="gold CSV (all 90 columns)")
    p.add_argument("--json", metavar="OUT", help="write every figure to this JSON file")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("compare", help="paired one-sided Wilcoxon test: is A better than B?",
                       description="Per-patient errors of two prediction files (or per-fold metrics with "
                                   "--per-fold), one-sided paired Wilcoxon signed-rank test of 'A is better than B', "
                                   "and optionally the second reader's agreement (the clinical upper limit).")
    p.add_argument("a", help="predictions CSV of method A (with --per-fold: the method name A)")
    p.add_argument("b", help="predictions CSV of method B (with --per-fold: the method name B)")
    p.add_argument("--gold", help="gold CSV (required unless --per-fold)")
    p.add_argument("--per-fold", metavar="FILE", help="per-fold metric table (CSV with fold, method and metric "
                                                      "columns, as written by ra2 cv) instead of prediction files")
    p.add_argument("--reader2", metavar="CSV", help="a second human reader's scores of the same patients")
    p.add_argument("--json", metavar="OUT", help="write the results to this JSON file")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("leaderboard", help="rank prediction files with bootstrap Bayes factors",
                       description="Rank any number of prediction files on SC1/SC2/SC3 with seeded bootstrap "
                                   "resamples (patients for SC1, patient x joint rows for SC2/SC3); Bayes factor K "
                                   "against the best, ties at K <= 3.")
    p.add_argument("preds", nargs="+", help="prediction CSVs")
    p.add_argument("--gold", required=True, help="gold CSV")
    p.add_argument("--names", nargs="+", help="team names (default: file names)")
    p.add_argument("--reader2", metavar="CSV", help="second reader's scores, shown as the clinical upper limit")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--tie-k", type=float, default=3.0, help="Bayes factor at or below which a team ties (default 3)")
    p.add_argument("--out", metavar="DIR", help="write leaderboard.md/.csv/.json, leaderboard.png and a "
                                                "self-contained report.html here")
    p.set_defaults(func=cmd_leaderboard)


# ------------------------------------------------------------------ functions the commands wrap
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
    from .official import OFFICIAL_KEYS, METRICS, per_patient, score_frames
    from .stats import agreement, paired_wilcoxon

    gold = load_gold(gold_path)
    a, b = load_predictions(a_path, gold), load_predictions(b_path, gold)
    ea, eb = per_patient(a.frame, gold.frame), per_patient(b.frame, gold.frame)
    out = {"a": str(a_path), "b": str(b_path), "gold": str(gold_path), "patients": int(len(gold.frame)),
           "official": {"a": score_frames(a.frame, gold.frame), "b": score_frames(b.frame, gold.frame)},
           "paper": {"a": agreement(a.frame, gold.frame), "b": agreement(b.frame, gold.frame)},
           "tests": {}}
    zero_a, zero_b = out["official"]["a"]["sc2"] is None, out["official"]["b"]["sc2"] is None
    for key in OFFICIAL_KEYS:
        if METRICS[key][0] == "rmse" and (zero_a or zero_b):
            out["tests"][key] = None
            continue
        out["tests"][key] = paired_wilcoxon(ea[key].to_numpy(), eb[key].to_numpy()).as_dict()
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
            raise UsageError(f"--names gives {len(names)} name(s) for {len(paths)} prediction file(s)")
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
        raise UsageError(f"--n-boot {n_boot}: must be at least 1")
    if not 0 <= seed < 2 ** 32:
        raise UsageError(f"--seed {seed}: must be between 0 and {2 ** 32 - 1}")
    if not tie_k >= 0:
        raise UsageError(f"--tie-k {tie_k}: must be a number of at least 0")
    if out_dir is not None:
        check_leaderboard_folder(out_dir, [*paths, gold_path, reader2])
    gold = load_gold(gold_path)
    teams = team_names(paths, names)
    if len(set(teams)) != len(teams):
        raise UsageError("team names must be unique")
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


LEADERBOARD_FILES = ("leaderboard.md", "leaderboard.csv", "leaderboard.json", "leaderboard.png", "report.html")


def check_leaderboard_folder(out_dir, inputs) -> None:
    """``--out DIR`` of the leaderboard: a writable folder, none of whose five files is an input."""
    from challenge.outputs import check_output_file, check_output_folder

    inputs = [p for p in inputs if p is not None]
    check_output_folder(out_dir, "--out", [p for p in inputs if Path(p).is_dir()])
    for name in LEADERBOARD_FILES:
        check_output_file(Path(out_dir) / name, "--out", inputs)


def check_json_out(path, *inputs) -> None:
    """``--json OUT``: a writable file that is none of the command's inputs (checked before any work)."""
    from challenge.outputs import check_output_file

    if path is not None:
        check_output_file(path, "--json", [p for p in inputs if p is not None])


# ------------------------------------------------------------------ command handlers
def cmd_validate(args) -> int:
    from .checks import validate_file

    problems = validate_file(args.pred, args.template)
    errs = [p for p in problems if p.level == "error"]
    warns = [p for p in problems if p.level == "warning"]
    for p in errs + ([] if args.quiet else warns):
        print(p)
    if errs:
        print(f"{args.pred}: INVALID ({len(errs)} error(s), {len(warns)} warning(s))")
        return 1
    print(f"{args.pred}: valid ({len(warns)} warning(s))")
    return 0


def cmd_score(args) -> int:
    from .checks import InvalidFile
    from challenge.outputs import write_json

    from .report import agreement_table, official_table

    check_json_out(args.json, args.pred, args.gold)
    try:
        result = score_files(args.pred, args.gold)
    except InvalidFile as exc:
        print(exc, file=sys.stderr)
        return 1
    if result["warnings"]:
        print(f"{len(result['warnings'])} warning(s), e.g. {result['warnings'][0]} "
              f"(ra2 validate lists them all)", file=sys.stderr)
    name = Path(args.pred).name
    print(f"{name} against {Path(args.gold).name} ({result['patients']} patients)\n")
    print(official_table({name: result["official"]}))
    print()
    print(agreement_table({name: result["paper"]}))
    if args.json:
        write_json(args.json, result)
        print(f"\nwrote {args.json}")
    return 0


def cmd_compare(args) -> int:
    from .checks import InvalidFile
    from .official import LABELS
    from challenge.outputs import write_json

    from .report import agreement_table, fmt, official_table

    files = (args.per_fold,) if args.per_fold else (args.a, args.b, args.gold, args.reader2)
    check_json_out(args.json, *files)
    if args.per_fold:
        result = compare_folds(args.per_fold, args.a, args.b)
        print(f"{args.a} (A) against {args.b} (B) over {len(result['folds'])} folds; one-sided H1: A is lower\n")
        print(f"{'metric':<22}{'mean A':>10}{'mean B':>10}{'median A-B':>12}{'p':>10}")
        for m, t in result["tests"].items():
            mean = result["mean"][m]
            print(f"{m:<22}{fmt(mean['a']):>10}{fmt(mean['b']):>10}{fmt(t['median_difference']):>12}"
                  f"{fmt(t['p_value']):>10}")
    else:
        if not args.gold:
            raise UsageError("--gold is required when comparing prediction files")
        try:
            result = compare_files(args.a, args.b, args.gold, args.reader2)
        except InvalidFile as exc:
            print(exc, file=sys.stderr)
            return 1
        na, nb = Path(args.a).stem, Path(args.b).stem
        cols = {f"A: {na}": result["official"]["a"], f"B: {nb}": result["official"]["b"]}
        papers = {f"A {na}": result["paper"]["a"], f"B {nb}": result["paper"]["b"]}
        if "reader2" in result:
            cols["reader 2 (upper limit)"] = result["reader2"]["official"]
            papers["reader2"] = result["reader2"]["paper"]
        print(official_table(cols))
        print()
        print(agreement_table(papers))
        print(f"\nOne-sided paired Wilcoxon signed-rank tests over {result['patients']} patients "
              "(H1: A's per-patient errors are lower than B's)")
        print(f"{'metric':<26}{'median A-B':>12}{'p':>12}")
        for key, t in result["tests"].items():
            if t is None:
                print(f"{LABELS[key]:<26}{'undefined':>12}{'undefined':>12}")
            else:
                print(f"{LABELS[key]:<26}{fmt(t['median_difference']):>12}{fmt(t['p_value'], 6):>12}")
    if args.json:
        write_json(args.json, result)
        print(f"\nwrote {args.json}")
    return 0


def cmd_leaderboard(args) -> int:
    from .checks import InvalidFile

    try:
        result = leaderboard_files(args.preds, args.gold, names=args.names, reader2=args.reader2,
                                   n_boot=args.n_boot, seed=args.seed, tie_k=args.tie_k, out_dir=args.out)
    except InvalidFile as exc:
        print(exc, file=sys.stderr)
        return 1
    print(result["markdown"])
    for f in result.get("files", []):
        print(f"wrote {f}")
    return 0
