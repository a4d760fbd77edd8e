"""``ra2 demo``: the whole harness end to end on a small phantom cohort.

Makes a phantom cohort, runs every baseline and the three-stage method, scores all
of them with the official metrics, ranks them with the bootstrap leaderboard beside
the second reader (the clinical upper limit) and writes a report folder:

    OUT/cohort/          the phantom cohort (train/, test/, gold/, cohort.json)
    OUT/bundle/          the trained model bundle
    OUT/predictions/     one predictions CSV per method
    OUT/report/          leaderboard.md/.csv/.json/.png, scores.json, compare_*.json,
                         overlays/ and shap/ of the method, report.md and report.html (everything in
                         one page; the HTML is self-contained)
    OUT/review/          the readers' review site of the test images (open index.html from disk)

The demo is written beside OUT and swapped in whole at the end (``challenge.outputs.staged_folder``):
OUT may be new, empty or an earlier demo's folder with nothing added, and an interrupted demo leaves
it as it was.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from challenge.errors import ParameterError

log = logging.getLogger("ra2.demo")


def check_demo(out: str | Path, n_train: int, n_test: int, seed: int, size_scale: float) -> None:
    """Refuse, before any work, a cohort that cannot be drawn or trained on, a seed out of range and an
    output folder that is neither new, empty nor an earlier demo's as it wrote it (the demo replaces it whole)."""
    from challenge.outputs import check_output_folder, check_replaceable
    from phantoms.cohort import check_parameters

    if n_train < 2:
        raise ParameterError("n_train", n_train, "need at least 2 training patients")
    check_parameters(n_train, n_test, size_scale=size_scale)
    if not 0 <= seed < 2 ** 32:
        raise ParameterError("seed", seed, f"must be between 0 and {2 ** 32 - 1}")
    check_output_folder(out, "out")
    check_replaceable(out, "demo", "out")


def run_demo(out: str | Path, *, n_train: int = 80, n_test: int = 20, seed: int = 7, method: bool = True,
             settings: str = "demo", size_scale: float = 0.5) -> dict:
    """Run the demo; returns the leaderboard result (see ``evaluator.files.leaderboard_files``).

    ``settings`` names the method's settings, a profile of ``submission.profiles.PROFILES``:
    ``demo`` (the small profile trained for less long) or another (``quick``: tiny, for tests).
    The cohort is of realistic phantoms at ``size_scale`` times the real image sizes.  80 training
    patients rather than 40: with 40, the stacker's line for the totals (fitted on 40 patients' inner
    folds) came out flat for some seeds and the method lost SC1 to a constant (docs/measurements.md,
    "How many patients the totals' line needs"); the networks train for the same steps either way.
    ``out`` and the profile's name are checked first (``check_demo``, ``profile_settings``).
    """
    from challenge.outputs import staged_folder

    check_demo(out, n_train, n_test, seed, size_scale)
    if method:
        from submission.profiles import profile_settings

        profile_settings(settings)
    final = Path(out)
    with staged_folder(final, "demo") as work:
        board = _run(work, final, n_train, n_test, seed, method, settings, size_scale)
    return _moved(board, str(work), str(final))


def _moved(value, old: str, new: str):
    """``value`` with every path under ``old`` (the staging folder) spelled under ``new``."""
    if isinstance(value, dict):
        return {k: _moved(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, old, new) for v in value]
    if isinstance(value, str) and value.startswith(old):
        return new + value[len(old):]
    return value


def _run(out: Path, final: Path, n_train: int, n_test: int, seed: int, method: bool, settings: str,
         size_scale: float) -> dict:
    """The demo's work, written into the new folder ``out`` that becomes ``final``."""
    from baselines.predictors import BASELINES, predict_baseline
    from challenge.dataset import TEMPLATE_FILE
    from challenge.outputs import write_json
    from challenge.tables import write_scores
    from evaluator.files import compare_files, leaderboard_files, score_files
    from phantoms.cohort import make_cohort

    cohort, preds_dir, report = out / "cohort", out / "predictions", out / "report"
    for d in (preds_dir, report):
        d.mkdir(parents=True, exist_ok=True)
    timings = {}

    t0 = time.perf_counter()
    log.info("[1/4] phantom cohort: %d training and %d test patients (seed %d) -> %s", n_train, n_test, seed, cohort)
    make_cohort(cohort, n_train, n_test, seed, size_scale=size_scale, progress=True)
    timings["synth_s"] = time.perf_counter() - t0
    train, test, gold = cohort / "train", cohort / "test", cohort / "gold"
    template = test / TEMPLATE_FILE

    log.info("[2/4] baselines: %s", ", ".join(BASELINES))
    paths = {}
    for name in BASELINES:
        t = time.perf_counter()
        frame = predict_baseline(name, train, test, seed=seed)
        paths[name] = write_scores(frame, preds_dir / f"{name}.csv", template)
        timings[f"baseline_{name}_s"] = time.perf_counter() - t

    if method:
        from submission.predict import predict_folder
        from submission.profiles import profile_settings
        from submission.train import train_bundle

        log.info("[3/4] method: training the localizer, seg-regressor and stacker (%s settings)", settings)
        t = time.perf_counter()
        bundle = train_bundle(train, out / "bundle", seed=seed, settings=profile_settings(settings))
        timings["method_train_s"] = time.perf_counter() - t
        t = time.perf_counter()
        summary = predict_folder(bundle, test, template, preds_dir / "method.csv",
                                 landmarks_out=report / "method_landmarks.csv", overlays=report / "overlays",
                                 masks_out=report / "masks")
        timings["method_predict_s"] = time.perf_counter() - t
        paths["method"] = preds_dir / "method.csv"
        write_json(report / "method_predict_summary.json", summary)
        try:
            from submission.explain import explain_bundle
            explain_bundle(bundle, report / "shap")
        except Exception as exc:  # the explanation is a picture, never a reason to lose the scores
            log.warning("SHAP explanation skipped: %s", exc)
    else:
        log.info("[3/4] method skipped (--no-method)")

    log.info("[4/4] scoring and ranking against gold, beside the second reader")
    scores = {name: score_files(p, gold / "test.csv") for name, p in paths.items()}
    scores["reader2"] = score_files(gold / "reader2.csv", gold / "test.csv")
    write_json(report / "scores.json", scores)
    board = leaderboard_files(list(paths.values()), gold / "test.csv", names=list(paths),
                              reader2=gold / "reader2.csv", seed=seed, out_dir=report)
    best_baseline = min((n for n in paths if n != "method"),
                        key=lambda n: scores[n]["official"]["sc2"] if scores[n]["official"]["sc2"] is not None
                        else float("inf"))
    comparisons = {}
    if "method" in paths:
        comparisons[f"method_vs_{best_baseline}"] = compare_files(paths["method"], paths[best_baseline],
                                                                  gold / "test.csv", gold / "reader2.csv")
        write_json(report / "compare.json", comparisons)
    t = time.perf_counter()
    review = _review_site(out / "review", test, template, paths.get("method") or paths[best_baseline],
                          report / "method_landmarks.csv", report / "masks")
    timings["review_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    write_json(report / "timings.json", timings)
    _write_report(report / "report.md", board, scores, comparisons, timings, final / "cohort")
    try:
        board["report_html"] = str(_write_html(report, board, scores, comparisons, timings, final / "cohort", review))
    except (OSError, ValueError) as exc:   # a picture that cannot be embedded must not cost the rest
        log.warning("report.html not written: %s", exc)
        board["report_html"] = None
    board["review_site"] = review["index"] if review else None
    return board


def _review_site(site: Path, images: Path, template: Path, predictions: Path, landmarks: Path,
                 masks: Path) -> dict | None:
    """The readers' review site of the test images and the method's (else the best baseline's) predictions."""
    from challenge.errors import UsageError
    from review.build import build_site

    log.info("review site of %s -> %s", predictions.name, site)
    try:
        return build_site(images, predictions, site, landmarks=landmarks if landmarks.is_file() else None,
                          masks=masks if masks.is_dir() else None, template=template)
    except UsageError as exc:   # the site is a convenience, never a reason to lose the scores
        log.warning("review site not written: %s", exc)
        return None


def _write_html(report: Path, board, scores, comparisons, timings, cohort, review) -> Path:
    """report.html: everything in one self-contained page; overlay thumbnails open the review site."""
    import os

    from evaluator.html_report import write_demo_html

    index = os.path.relpath(review["index"], report) if review else None
    overlays = []
    for png in sorted((report / "overlays").glob("*.png")):
        key = review["keys"].get(png.stem.rsplit("-", 1)[0]) if review else None
        overlays.append((png.stem, png, f"{index}#p={key}" if key else None))
    return write_demo_html(report / "report.html", board=board, scores=scores, comparisons=comparisons,
                           timings=timings, cohort=cohort, shap=sorted((report / "shap").glob("*.png")),
                           overlays=overlays, review_index=index)


def _write_report(path: Path, board: dict, scores: dict, comparisons: dict, timings: dict, cohort: Path) -> None:
    from evaluator.html_report import WHY_WEIGHTS, wilcoxon_words
    from evaluator.official import METRICS, OFFICIAL
    from evaluator.report import fmt

    names = list(scores)
    lines = ["# RA2 harness demo report", "", f"Cohort: `{cohort}` (phantoms; see cohort.json).", "",
             "## Leaderboard (bootstrap, Bayes factor against the best)", "", board["markdown"], "",
             "![bootstrap distributions](leaderboard.png)", "", "## Official metrics (lower is better)", "",
             "| metric | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for m in OFFICIAL:
        lines.append(f"| {m.label} | " + " | ".join(fmt(scores[n]["official"][m.key]) for n in names) + " |")
    lines += ["", "## Agreement with gold (raw scale): Pearson r / RMSE", "",
              "| group | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for group in scores[names[0]]["paper"]["groups"]:
        cells = [f"{fmt(scores[n]['paper']['groups'][group]['r'], 3)} / "
                 f"{fmt(scores[n]['paper']['groups'][group]['rmse'], 3)}" for n in names]
        lines.append(f"| {group.replace('_', ', ')} | " + " | ".join(cells) + " |")
    for title, comp in comparisons.items():
        a, b = title.split("_vs_", 1)
        lines += ["", f"## {title.replace('_', ' ')}: one-sided paired Wilcoxon (per patient)", "",
                  "| metric | median difference | p | reading |", "| --- | ---: | ---: | --- |"]
        for key, t in comp["tests"].items():
            words = wilcoxon_words(t, a, b, comp["official"]["a"][key], comp["official"]["b"][key])
            lines.append(f"| {METRICS[key].label} | {fmt(t and t['median_difference'])} | {fmt(t and t['p_value'], 6)} "
                         f"| {words} |")
        lines += ["", WHY_WEIGHTS]
    lines += ["", "## Time", "", "| step | seconds |", "| --- | ---: |"]
    lines += [f"| {k.removesuffix('_s').replace('_', ' ')} | {v:.1f} |" for k, v in timings.items()]
    lines.append("")
    from challenge.outputs import write_text

    write_text(path, "\n".join(lines))
