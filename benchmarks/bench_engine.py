"""The CWL engines' cost: overhead per job, and cross-validation folds serially against side by side.

    .venv/bin/python benchmarks/bench_engine.py [--image ra2-base:bookworm] [--repeats 3]
                                                [--folds 4] [--patients 8] [--steps N] [--skip-folds]

1. Overhead per job: a one-step workflow whose step does nothing (``true``), run through
   ``workflows.engine.Engine`` exactly as ``ra2 evaluate`` / ``ra2 cv --engine`` run theirs, with
   cwltool and with Toil (single_machine), in a container (``--image``, on the Docker engine that
   ``docker`` reaches; DOCKER_HOST) and with ``--no-container``; minus the same command run directly
   (``docker run --rm --network none IMAGE true``, or ``true``).  Median over ``--repeats``.
2. Folds: ``ra2 cv --folds 4 --quick`` on an easy phantom cohort, serially, then ``--engine cwltool
   --jobs 2`` and ``--engine toil --jobs 2`` (on this host, no container), wall seconds each, and
   whether the per-fold tables are byte for byte the serial one's.

Prints the host line (CPU, usable cores, load average) first: the figures move with the host.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NOOP = """cwlVersion: v1.2
class: CommandLineTool
hints:
  DockerRequirement:
    dockerPull: {image}
baseCommand: ["true"]
inputs: []
outputs: []
"""


def host_line() -> str:
    cpu = platform.processor() or "unknown"
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"host: {cpu}, {cores} usable cores, load average {load}, Python {platform.python_version()}"


def _timed(cmd, **kw) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, **kw)
    return time.perf_counter() - start


def overhead(image: str, repeats: int, work: Path) -> None:
    from workflows.engine import Engine

    tool = work / "noop.cwl"
    tool.write_text(NOOP.format(image=image))
    docker = shutil.which("docker")
    print(f"\noverhead per job (median of {repeats}; engine wall time minus the same command run directly)")
    print(f"{'engine':<10}{'container':<28}{'engine s':>10}{'direct s':>10}{'overhead s':>12}")
    for container in (True, False):
        if container and docker is None:
            print("(no docker client: container rows skipped)")
            continue
        direct_cmd = [docker, "run", "--rm", "--network", "none", image, "true"] if container else ["true"]
        direct = statistics.median(_timed(direct_cmd) for _ in range(repeats))
        for name in ("cwltool", "toil"):
            walls = []
            for i in range(repeats):
                run = Engine(name=name, no_container=not container).run(tool, {}, work / f"{name}-{container}-{i}")
                if run.returncode != 0:
                    raise SystemExit(f"{name} failed: {run.error_line()} (log {run.log_path})")
                walls.append(run.seconds)
            wall = statistics.median(walls)
            print(f"{name:<10}{('Docker ' + image) if container else 'none':<28}{wall:>10.2f}{direct:>10.2f}"
                  f"{wall - direct:>12.2f}")


def folds(n_folds: int, patients: int, steps: int | None, work: Path) -> None:
    cohort = work / "cohort"
    ra2 = [sys.executable, "-m", "ra2"]
    subprocess.run(ra2 + ["synth", "--out", str(cohort), "--train", str(patients), "--test", "1", "--seed", "3",
                          "--size-scale", "0.3", "--preset", "easy", "-q"], check=True, capture_output=True)
    base = ra2 + ["cv", "--data", str(cohort / "train"), "--folds", str(n_folds), "--quick", "--seed", "1"]
    if steps:
        base += ["--steps", str(steps)]
    env = dict(os.environ, TQDM_DISABLE="1")
    print(f"\n{n_folds} folds of ra2 cv --quick{f' --steps {steps}' if steps else ''}, {patients} easy phantom "
          "patients (size 0.3), on this host without containers")
    results = {}
    for label, extra in (("serial", []), ("cwltool --jobs 2", ["--engine", "cwltool", "--jobs", "2"]),
                         ("toil --jobs 2", ["--engine", "toil", "--batch-system", "single_machine", "--jobs", "2"])):
        out = work / label.split()[0]
        start = time.perf_counter()
        done = subprocess.run(base + ["--out", str(out)] + extra, capture_output=True, text=True, env=env)
        took = time.perf_counter() - start
        if done.returncode != 0:
            print(f"{label}: failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        results[label] = (out / "per_fold.csv").read_bytes()
        same = "" if label == "serial" else (", per_fold.csv identical to the serial one"
                                             if results[label] == results.get("serial") else ", per_fold.csv DIFFERS")
        print(f"{label:<18}{took:>8.1f} s{same}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", default="ra2-base:bookworm", help="a local image with 'true' (default ra2-base:bookworm)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--patients", type=int, default=8)
    ap.add_argument("--steps", type=int, default=None, help="steps of every network (default: the quick profile's)")
    ap.add_argument("--skip-folds", action="store_true", help="measure the overhead only")
    args = ap.parse_args(argv)
    print(host_line())
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        overhead(args.image, args.repeats, Path(tmp))
        if not args.skip_folds:
            folds(args.folds, args.patients, args.steps, Path(tmp))


if __name__ == "__main__":
    main()
