"""``ra2 validate``, ``ra2 score``, ``ra2 compare``, ``ra2 leaderboard`` and ``ra2 score-landmarks``.

The work is in ``evaluator.files`` and ``evaluator.landmarks``; the handlers here check the output
paths, call it and print.  Exit codes: 0 success (``validate``: the file is valid), 1 the
predictions file is invalid, 2 unusable input (unreadable file, not a CSV, bad gold file, bad option).
"""
from __future__ import annotations

import sys
from pathlib import Path

from challenge.errors import UsageError
from challenge.schemes import DEFAULT_SCHEME

from .files import compare_files, compare_folds, leaderboard_files, score_files
from .landmarks import THRESHOLD


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
    p.set_defaults(func=cmd_leaderboard, options={"out_dir": "--out"})

    p = sub.add_parser("score-landmarks", help="localisation metric of predicted landmarks",
                       description="Share of predicted landmarks within a normalised distance (x / width, "
                                   "y / height) of the gold points, per joint group, and the distance distribution.")
    p.add_argument("pred", help="predicted landmarks CSV (image,landmark,x,y)")
    p.add_argument("--gold", required=True, help="gold landmarks CSV (image,landmark,x,y)")
    p.add_argument("--images", metavar="DIR", help="the images, for their sizes (else width/height columns)")
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="normalised distance (default 0.02; the "
                   "share within 0.01 is shown beside it)")
    p.add_argument("--scheme", default=DEFAULT_SCHEME, metavar="NAME_OR_FILE",
                   help="landmark scheme whose joint groups the figures are given for (default svh21)")
    p.add_argument("--json", metavar="OUT", help="write the figures to this JSON file")
    p.set_defaults(func=cmd_score_landmarks)


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
    from .official import METRICS
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
                print(f"{METRICS[key].label:<26}{'undefined':>12}{'undefined':>12}")
            else:
                print(f"{METRICS[key].label:<26}{fmt(t['median_difference']):>12}{fmt(t['p_value'], 6):>12}")
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


def cmd_score_landmarks(args) -> int:
    from challenge.outputs import input_files, write_json
    from challenge.schemes import load_scheme

    from .landmarks import format_result, score_landmark_files

    check_json_out(args.json, args.pred, args.gold, *(input_files(args.images) if args.images else []))
    scheme = load_scheme(args.scheme)
    result = score_landmark_files(args.pred, args.gold, args.images, threshold=args.threshold, scheme=scheme)
    for w in result["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    print(format_result(result))
    if args.json:
        write_json(args.json, result)
    return 0
