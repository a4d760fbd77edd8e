"""run.sh's helpers: what the container is about to do, what it did, and its last resort.

    python3 runinfo.py check TEST_DIR TEMPLATE       # exit 1 (with the reason) if the template is unusable
    python3 runinfo.py summary SUMMARY_JSON SECONDS  # the run's summary, from `ra2 predict --summary`
    python3 runinfo.py fallback TEMPLATE OUT         # a complete, valid file of zeros

Kept apart from the method so that run.sh can still report and write a file when
the method itself fails; it imports only ``challenge`` (pandas, pillow).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


def check(test_dir: str, template_path: str) -> list[str]:
    """Lines describing the test folder; raises ``UsageError`` if the template is unusable."""
    from challenge.catalogue import ID, LIMBS
    from challenge.dataset import scan_folder
    from challenge.tables import read_template

    template = read_template(template_path)
    patients = [p for p in template[ID] if p]
    folder = scan_folder(test_dir)
    found = sum(1 for p in patients for limb in LIMBS if folder.path(p, limb) is not None)
    lines = [f"template {template_path}: {len(patients)} patients, {len(template.columns)} columns",
             f"test folder {test_dir}: {found} of {len(patients) * len(LIMBS)} expected images present"]
    extra = sorted(set(folder.patients) - set(patients))
    if extra:
        lines.append(f"{len(extra)} patients with images but not in the template (ignored): {', '.join(extra[:10])}")
    if folder.unexpected:
        lines.append(f"{len(folder.unexpected)} files that are not challenge images (ignored): "
                     + ", ".join(p.name for p in folder.unexpected[:10]))
    return lines


def gpu_names() -> list[str]:
    """Names of the GPUs the driver shows, or [] where there is no NVIDIA driver."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              check=False, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()] if done.returncode == 0 else []


def summary(summary_path: str, seconds: float) -> list[str]:
    """Summary lines: patients, images used, every image not used (unreadable, missing, or of a limb
    kind without networks) by name, time, device."""
    with open(summary_path) as fh:
        info = json.load(fh)
    failed = (info.get("failed", []) + [{"image": m, "reason": "no image file"} for m in info.get("missing", [])]
              + [{"image": m, "reason": "a limb kind the bundle has no networks for"} for m in info.get("ignored", [])])
    device = info.get("device", "unknown")
    names = gpu_names()
    if "GPU" in device and names:
        device += ": " + ", ".join(names)
    lines = [f"patients: {info['patients']}",
             f"images used: {info['images']}",
             f"images that failed: {len(failed)}"]
    lines += [f"  failed image {f['image']}: {f['reason']}" for f in failed]
    timing = (f"time: {seconds:.1f} s in all ({info.get('seconds', float('nan')):.1f} s predicting, "
              f"{info.get('seconds_per_image', float('nan')):.3f} s per image)")
    lines += [timing, f"device: {device}"]
    return lines


def fallback(template_path: str, out_path: str) -> Path:
    """Every score 0 for every template patient (the most common gold value), written atomically."""
    import pandas as pd

    from challenge.catalogue import ID, JOINT_COLUMNS
    from challenge.tables import read_template, write_scores

    template = read_template(template_path)
    patients = [p for p in template[ID] if p]
    zeros = pd.DataFrame(0.0, index=pd.Index(patients, name=ID), columns=list(JOINT_COLUMNS))
    return write_scores(zeros, out_path, template)


def main(argv: list[str]) -> int:
    from challenge.errors import UsageError

    usage = __doc__.split("\n\n")[1]
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    try:
        if command == "check" and len(args) == 2:
            print("\n".join(check(*args)))
        elif command == "summary" and len(args) == 2:
            print("\n".join(summary(args[0], float(args[1]))))
        elif command == "fallback" and len(args) == 2:
            print(f"wrote {fallback(*args)}")
        else:
            print(usage, file=sys.stderr)
            return 2
    except (UsageError, OSError, ValueError, KeyError) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
