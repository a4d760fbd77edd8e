"""``ra2 evaluate``: the organisers' loop over many submission images, through ``evaluate.cwl``.

Each image runs as one workflow (the submission on the test folder, ``ra2 validate``, then
``ra2 score --json``), up to ``jobs`` at once; then ``ra2 leaderboard`` ranks the valid ones.  A
submission that crashes, runs past its time limit, writes nothing or writes an invalid file gets one
row saying so, with its log; the others go on.

``--out`` holds, for each submission, ``runs/NAME/`` (``result.json``, the engine's log, the image's
own log, and ``predictions.csv``, ``validation.txt`` and ``scores.json`` where it got that far),
``results.csv`` (one row per submission), and ``leaderboard/`` (``ra2 leaderboard --out``).  Each
finished submission's folder is swapped in whole as soon as it is done, and ``ra2-output.json`` lists
it, so an interrupted run keeps what finished, and a second run with the same test folder, gold file,
time limit and image (by its Docker image ID) does not run that submission again.  While a
submission runs, the engine works in ``.work/NAME/`` under ``--out``; nothing is written elsewhere.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from challenge.outputs import RECORD, RECORD_FORMAT, file_sha256, swap_in, write_csv, write_json

from .engine import Engine, dir_input, file_input, output_path, stop_all, stopping, workflow

log = logging.getLogger(__name__)
COMMAND = "evaluate"
WORK = ".work"
STATUSES = ("scored", "invalid", "no predictions", "timed out", "failed")
#: the image the checks (ra2 validate, ra2 score) run in unless told otherwise: the project's own
SCORING_IMAGE = "ra2-submission"
DEFAULT_ENTRYPOINT = "/opt/ra2/run.sh"


def team_name(image: str) -> str:
    """A folder and team name for an image: its name with every character but [A-Za-z0-9._-] as '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", image).strip("._") or "image"


def image_id(image: str, engine: Engine) -> str | None:
    """The Docker image ID of ``image`` on this host (None with Singularity, or where Docker does not know it)."""
    if engine.singularity or not shutil.which("docker"):
        return None
    try:
        done = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", image], capture_output=True,
                              text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


# ------------------------------------------------------------------ the output folder, updated as it goes
def _entries(out: Path) -> list[str]:
    found = []
    for root, dirs, files in os.walk(out):
        rel = Path(root).relative_to(out)
        if rel.parts[:1] == (WORK,):
            continue
        found += [(rel / f).as_posix() for f in files if not (rel == Path(".") and f == RECORD)]
    return sorted(found)


_RECORD_LOCK = threading.Lock()


def _write_record(out: Path) -> None:
    """``ra2-output.json``: every file here, and ``.work`` (an interrupted run's, removed by the next) as kept.
    Written under a lock, after the caller's files are in place, so that the last record lists them all."""
    with _RECORD_LOCK:
            write_json(out / RECORD, {"format": RECORD_FORMAT, "version": 1, "command": COMMAND,
                                  "files": _entries(out), "kept": [WORK]}, indent=1)


def _previous(out: Path, name: str, key: dict) -> dict | None:
    """The earlier result of ``name`` when it ran with the same ``key`` (test folder, gold, limit, image ID)."""
    path = out / "runs" / name / "result.json"
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(result, dict) or result.get("key") != key or result.get("status") not in STATUSES:
        return None
    if key.get("image_id") is None:       # an image we cannot fingerprint is run again
        return None
    return result


# ------------------------------------------------------------------ one submission
def _classify(run, outputs: dict) -> tuple[str, str]:
    if run.returncode != 0 or run.outputs is None:
        if run.timed_out:
            return "timed out", "ran past the time limit and was stopped; no predictions were kept"
        return "failed", f"the run failed (engine exit {run.returncode}): {run.error_line()}"
    if outputs.get("predictions") is None:
        return "no predictions", "the image exited without writing /output/predictions.csv"
    if outputs.get("valid") is False:
        return "invalid", "ra2 validate: the predictions file is invalid"
    if outputs.get("scores") is None:
        return "failed", "ra2 score wrote no scores"
    return "scored", ""


def _leftover_logs(work: Path, dest: Path) -> None:
    """A failed run's own logs, from the engine's temporary output folders (they are not outputs then)."""
    for name in ("submission.log", "submission.stderr.log"):
        found = sorted(work.glob(f"tmp/**/{name}"), key=lambda p: p.stat().st_mtime)
        if found and not (dest / name).exists():
            shutil.copy2(found[-1], dest / name)
    logs = work / "job-logs"
    if logs.is_dir():
        for f in sorted(logs.iterdir()):
            if f.is_file():
                shutil.copy2(f, dest / f"job-{f.name}")


def _message_from(path: Path | None, fallback: str) -> str:
    """The first error line of ra2 validate's report."""
    if path is None or not path.is_file():
        return fallback
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "INVALID" not in ln and "warning" not in ln.lower()]
    first = errors[0] if errors else lines[-1] if lines else "invalid"
    return "ra2 validate: " + re.sub(r"\S*/predictions\.csv", "predictions.csv", first)   # not the job's mount path


def evaluate_one(image: str, name: str, *, test_dir: Path, gold: Path, out: Path, engine: Engine, key: dict,
                 train_dir: Path | None = None, time_limit: int = 172800, entrypoint: str = DEFAULT_ENTRYPOINT,
                 gpus: int = 0, scoring_image: str = SCORING_IMAGE) -> dict:
    """Run ``image`` through evaluate.cwl in ``out/.work/NAME`` and swap its ``runs/NAME`` in whole."""
    work = out / WORK / name
    shutil.rmtree(work, ignore_errors=True)
    job = {"test": dir_input(test_dir), "template": file_input(test_dir / "template.csv"), "gold": file_input(gold),
           "time_limit": int(time_limit), "entrypoint": entrypoint}
    if train_dir is not None:
        job["train"] = dir_input(train_dir)
    if gpus:
        job["gpus"] = int(gpus)
    docker = {"class": "DockerRequirement", "dockerPull": image, "dockerOutputDirectory": "/output"}
    scoring = {"class": "DockerRequirement", "dockerPull": scoring_image}
    overrides = {"submission.cwl": [docker], "validate.cwl": [scoring], "score.cwl": [scoring]}
    log.info("%s: running %s through %s", name, image, engine.describe())
    run = engine.run(workflow("evaluate-gpu.cwl" if gpus else "evaluate.cwl"), job, work / "engine",
                     overrides=overrides)
    if stopping():                  # ra2 was interrupted: this run is no result, and runs again next time
        shutil.rmtree(work, ignore_errors=True)
        raise KeyboardInterrupt("stopped")
    outputs = run.outputs or {}
    status, message = _classify(run, outputs)
    staging = work / "result"
    staging.mkdir(parents=True)
    shutil.copy2(run.log_path, staging / "engine.log")
    for field, dest in (("predictions", "predictions.csv"), ("log", "submission.log"),
                        ("stderr_log", "submission.stderr.log"), ("validation", "validation.txt"),
                        ("scores", "scores.json")):
        src = output_path(outputs.get(field))
        if src is not None and src.is_file():
            shutil.copy2(src, staging / dest)
    if status in ("timed out", "failed"):
        _leftover_logs(work / "engine", staging)
    if status == "invalid":
        message = _message_from(staging / "validation.txt", message)
    scores = {}
    if status == "scored":
        figures = json.loads((staging / "scores.json").read_text())
        scores = {m: (figures.get("official") or {}).get(m) for m in ("sc1", "sc2", "sc3")}
    result = {"name": name, "image": image, "status": status, "message": message, **scores,
              "seconds": round(run.seconds, 1), "engine_exit": run.returncode, "key": key,
              "files": sorted(p.name for p in staging.iterdir()) + ["result.json"],
              "engine_command": run.command}
    write_json(staging / "result.json", result)
    dest = out / "runs" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    swap_in(staging, dest)
    shutil.rmtree(work, ignore_errors=True)
    log.info("%s: %s%s (%.0f s)", name, status, f": {message}" if message else "", run.seconds)
    return result


# ------------------------------------------------------------------ the loop
def evaluate_images(images, test_dir, gold, out_dir, *, engine: Engine, names=None, train_dir=None,
                    time_limit: int = 172800, entrypoint: str = DEFAULT_ENTRYPOINT, gpus: int = 0,
                    scoring_image: str = SCORING_IMAGE, n_boot: int = 1000, seed: int = 0) -> dict:
    """Every image through evaluate.cwl (up to ``engine.jobs`` at once), then the leaderboard of the valid
    ones; returns {"results": [...], "leaderboard": ... or None}.  The caller checked the paths."""
    from evaluator.files import leaderboard_files

    test_dir, gold, out = Path(test_dir), Path(gold), Path(out_dir)
    names = list(names) if names else [team_name(i) for i in images]
    base_key = {"template_sha256": file_sha256(test_dir / "template.csv"), "gold_sha256": file_sha256(gold),
                "test": str(test_dir.resolve()), "train": str(Path(train_dir).resolve()) if train_dir else None,
                "time_limit": int(time_limit), "entrypoint": entrypoint, "gpus": int(gpus),
                "scoring_image": scoring_image}
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / WORK, ignore_errors=True)       # an interrupted run's work
    stale = out / "runs"
    if stale.is_dir():                                   # a submission no longer asked for goes
        for d in stale.iterdir():
            if d.name not in names:
                shutil.rmtree(d) if d.is_dir() else d.unlink()
    _write_record(out)
    per_run = Engine(**{**engine.__dict__, "jobs": 1})   # one workflow per image; the images run side by side
    todo, results = [], {}
    for image, name in zip(images, names):
        key = {**base_key, "image": image, "image_id": image_id(image, engine),
               "scoring_image_id": image_id(scoring_image, engine)}
        earlier = _previous(out, name, key)
        if earlier is not None:
            log.info("%s: finished in an earlier run (%s); not run again", name, earlier["status"])
            results[name] = {**earlier, "resumed": True}
        else:
            todo.append((image, name, key))

    def one(item):
        image, name, key = item
        result = evaluate_one(image, name, test_dir=test_dir, gold=gold, out=out, engine=per_run, key=key,
                              train_dir=train_dir, time_limit=time_limit, entrypoint=entrypoint, gpus=gpus,
                              scoring_image=scoring_image)
        _write_record(out)
        return result

    pool = ThreadPoolExecutor(max_workers=max(1, engine.jobs))
    try:
        for result in pool.map(one, todo):
            results[result["name"]] = result
    except BaseException:        # Ctrl-C or SIGTERM: stop the running engines (and so their containers) first
        pool.shutdown(wait=False, cancel_futures=True)
        stop_all()
        raise
    pool.shutdown()
    rows = [results[n] for n in names]
    table = pd.DataFrame([{"name": r["name"], "image": r["image"], "status": r["status"], "message": r["message"],
                           "sc1": r.get("sc1"), "sc2": r.get("sc2"), "sc3": r.get("sc3"), "seconds": r["seconds"],
                           "log": f"runs/{r['name']}/submission.log"} for r in rows])
    write_csv(out / "results.csv", table)
    board = None
    shutil.rmtree(out / "leaderboard", ignore_errors=True)
    valid = [r for r in rows if r["status"] == "scored"]
    if valid:
        board = leaderboard_files([out / "runs" / r["name"] / "predictions.csv" for r in valid], gold,
                                  names=[r["name"] for r in valid], n_boot=n_boot, seed=seed,
                                  out_dir=out / "leaderboard")
    shutil.rmtree(out / WORK, ignore_errors=True)
    _write_record(out)
    return {"results": rows, "leaderboard": board, "table": table}
