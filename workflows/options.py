"""The engine options shared by ``ra2 evaluate`` and ``ra2 cv --engine`` (light: no engine imported)."""
from __future__ import annotations

from challenge.errors import UsageError

ENGINES = ("cwltool", "toil")
#: Toil's batch systems (``toil-cwl-runner --batchSystem``); single_machine runs the jobs on this host
BATCH_SYSTEMS = ("single_machine", "slurm", "kubernetes", "lsf", "grid_engine", "htcondor", "torque", "aws_batch",
                 "mesos")


def add_engine_options(p, *, cv: bool = False) -> None:
    what = "the folds" if cv else "the submissions"
    p.add_argument("--engine", choices=ENGINES, default=None if cv else "cwltool",
                   help=f"run {what} as CWL jobs with this engine: cwltool (this host, the local Docker engine) or "
                        "toil (toil-cwl-runner; a cluster with --batch-system)"
                        + ("" if cv else " (default cwltool)"))
    p.add_argument("--batch-system", default=None, metavar="NAME",
                   help="Toil's batch system: " + ", ".join(BATCH_SYSTEMS) + " (default single_machine; --engine toil "
                        "only)")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help=f"run up to N of {what} at once (default 1)")
    p.add_argument("--singularity", action="store_true",
                   help="run the containers with Singularity/Apptainer instead of Docker")
    if cv:
        p.add_argument("--image", metavar="IMAGE",
                       help="run the folds in this image (the project's submission image, which has 'ra2'); "
                            "default: on this host, with this 'ra2' (the engine's --no-container)")
    p.add_argument("--job-store", metavar="DIR",
                   help="Toil's job store (default: in the output's work folder); on a cluster, a folder every node "
                        "sees, or a Toil job store URL (aws:REGION:NAME)")


def check_engine_options(args, *, cv: bool = False) -> None:
    """Refuse, before any work, options that contradict each other."""
    engine = args.engine
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be at least 1")
    if engine != "toil":
        for option, value in (("--batch-system", args.batch_system), ("--job-store", args.job_store)):
            if value is not None:
                raise UsageError(f"{option} is an option of --engine toil, not of --engine {engine}")
    if args.batch_system is not None and args.batch_system not in BATCH_SYSTEMS:
        raise UsageError(f"--batch-system {args.batch_system}: Toil has no such batch system (it has "
                         f"{', '.join(BATCH_SYSTEMS)})")
    if cv and engine is None:
        for option, given in (("--jobs", args.jobs != 1), ("--singularity", args.singularity),
                              ("--image", args.image is not None)):
            if given:
                raise UsageError(f"{option} is an option of --engine cwltool|toil: give --engine too")
    if cv and args.singularity and not args.image:
        raise UsageError("--singularity runs the folds in an image: give --image IMAGE too")
