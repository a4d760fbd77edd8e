"""``ra2 cv --engine cwltool|toil``: the cross-validation's folds as CWL jobs (``cv.cwl``).

Each fold and seed is one job (``cv-fold.cwl``: ``ra2 cv --fold K``) run on this host with this
``ra2`` (the engine's ``--no-container``) or in an image (``--image``, the project's submission
image), then ``cv-merge.cwl`` (``ra2 cv merge``) gathers them.  The result replaces ``--out`` whole,
as the serial ``ra2 cv`` does: the same files, and with the same seeds the same per-fold tables
(tests/test_workflows.py compares them).  The engine's work (its log, temporary folders, Toil's job
store) is kept under ``--out`` in a hidden folder while it runs, and its log is kept as
``engine.log``.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd

from challenge.errors import UsageError
from challenge.outputs import RECORD, staged_folder

from .engine import Engine, dir_input, output_path, workflow

log = logging.getLogger(__name__)


def run_cv(train_dir, folds: int, out_dir, *, seeds=(0,), split_seed: int | None = None, profile: str | None = None,
           steps: int | None = None, scheme: str | None = None, options=None, engine: Engine | None = None,
           image: str | None = None) -> pd.DataFrame:
    """Run ``cv.cwl`` over folds 1..``folds`` and ``seeds`` and swap the merged folder in as ``out_dir``;
    returns the per-fold table.  ``options``: the parsed ``ra2 cv`` options (engine, jobs, ...)."""
    if engine is None:
        image = getattr(options, "image", None) if image is None else image
        engine = Engine.from_args(options, no_container=image is None)
    seeds = list(seeds)
    split = split_seed if split_seed is not None else (seeds[0] if len(seeds) == 1 else None)
    if split is None:
        raise UsageError("several seeds need one --split-seed, so that they share their folds")
    job = {"data": dir_input(train_dir), "folds": folds, "fold_ids": list(range(1, folds + 1)), "seeds": seeds,
           "split_seed": split}
    if profile == "quick":
        job["quick"] = True
    elif profile is not None:
        job["profile"] = profile
    if steps is not None:
        job["steps"] = steps
    if scheme is not None:
        job["scheme"] = str(Path(scheme).resolve()) if Path(scheme).is_file() else scheme
    overrides = None
    if image is not None:
        docker = {"class": "DockerRequirement", "dockerPull": image}
        overrides = {"cv-fold.cwl": [docker], "cv-merge.cwl": [docker]}
    log.info("cross-validation through %s: %d folds x %d seed(s)", engine.describe(), folds, len(seeds))
    with staged_folder(out_dir, "cv") as work:
        scratch = work / ".engine"
        run = engine.run(workflow("cv.cwl"), job, scratch, overrides=overrides)
        merged = output_path((run.outputs or {}).get("cv"))
        if run.returncode != 0 or merged is None or not merged.is_dir():
            raise UsageError(f"the cross-validation through {engine.name} failed (exit {run.returncode}; nothing "
                             f"was written): {run.error_line()}")
        for item in merged.iterdir():
            if item.name != RECORD:
                shutil.move(str(item), work / item.name)
        shutil.copy2(run.log_path, work / "engine.log")
        shutil.rmtree(scratch)
        frame = pd.read_csv(work / "per_fold.csv")
    return frame
