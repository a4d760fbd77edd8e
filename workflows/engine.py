"""Run one CWL workflow of this folder with an existing engine: ``cwltool`` or ``toil-cwl-runner``.

``Engine`` holds the choices (engine, parallel jobs, Toil's batch system and job store, Docker or
Singularity or no container, GPUs); ``Engine.run`` runs one workflow with one job order inside a
work folder of the caller's (everything the engine writes stays there: its temporary and output
folders, Toil's job store and worker logs, the ``docker`` it calls) and returns a ``Run``: the
exit code, the workflow's outputs, the engine's log and the command line.  The log holds the
engine's own command line and, for each job, the container command it ran (cwltool logs
``docker run ... --read-only=true --net=none ...``).

Engines, as installed by the ``cwl`` extra (``pip install 'ra2-harness[cwl]'``): ``cwltool`` and
``toil[cwl]``, which pins the cwltool it runs; both are run from this interpreter's folder first.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from challenge.errors import UsageError

HERE = Path(__file__).resolve().parent
#: environment variables a job on this host keeps (cwltool gives a job only HOME, TMPDIR and PATH):
#: the Keras backend, and the GPUs a batch system gave the job (Toil's single_machine, SLURM's --gres)
PRESERVED = ("KERAS_BACKEND", "CUDA_VISIBLE_DEVICES")
EXECUTABLES = {"cwltool": "cwltool", "toil": "toil-cwl-runner"}
CWLTOOL_NS = "http://commonwl.org/cwltool#"


_RUNNING: set = set()          # the engine processes running now (ra2 evaluate runs several from threads)
_RUNNING_LOCK = threading.Lock()
_STOPPING = threading.Event()


def stopping() -> bool:
    """Whether ``stop_all`` was called: a run that ends now was stopped, and is no result."""
    return _STOPPING.is_set()


def stop_all(grace: float = 60) -> None:
    """Stop every engine process still running (SIGTERM, then SIGKILL after ``grace`` s): an interrupt of the
    main thread reaches no engine by itself, since each runs in a session of its own."""
    _STOPPING.set()
    with _RUNNING_LOCK:
        procs = list(_RUNNING)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.time() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()


def workflow(name: str) -> Path:
    """A workflow file of this folder, by name (``evaluate.cwl``)."""
    return HERE / name


def executable(engine: str) -> str:
    """The engine's command: beside this interpreter (a venv's bin), else on PATH; refused if absent."""
    name = EXECUTABLES[engine]
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise UsageError(f"--engine {engine}: {name} is not installed; install the engines with "
                         "pip install 'ra2-harness[cwl]' (cwltool and toil[cwl])")
    return found


@dataclass
class Run:
    """One engine run: its exit code, the workflow's outputs (None when it printed none), its log."""
    returncode: int
    outputs: dict | None
    log_path: Path
    command: list[str]
    seconds: float

    @property
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def error_line(self) -> str:
        """The engine's last error line (for a one-line message), else its last line."""
        lines = [ln.strip() for ln in self.log.splitlines() if ln.strip()]
        for ln in reversed(lines):
            if "ERROR" in ln or "Error" in ln or "permanentFail" in ln:
                return ln[:400]
        return lines[-1][:400] if lines else "(no log)"

    @property
    def timed_out(self) -> bool:
        """cwltool logs the time limit; Toil does not keep a failed job's log, but the docker shim leaves a mark."""
        return "exceeded time limit" in self.log or any(self.log_path.parent.glob("cid/stopped-*"))


@dataclass
class Engine:
    name: str = "cwltool"
    jobs: int = 1
    batch_system: str | None = None
    job_store: str | None = None
    singularity: bool = False
    no_container: bool = False
    extra: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args, *, no_container: bool = False) -> "Engine":
        return cls(name=args.engine, jobs=args.jobs, batch_system=args.batch_system, job_store=args.job_store,
                   singularity=args.singularity, no_container=no_container)

    def describe(self) -> str:
        how = "no container" if self.no_container else ("Singularity" if self.singularity else "Docker")
        where = f", batch system {self.batch_system or 'single_machine'}" if self.name == "toil" else ""
        return f"{self.name} ({how}{where}, up to {self.jobs} job(s) at once)"

    # ------------------------------------------------------------------ the command line
    def command(self, cwl: Path, job: Path, work: Path, *, overrides: Path | None = None) -> list[str]:
        out, tmp = work / "outputs", work / "tmp"
        cmd = [executable(self.name)]
        if self.name == "cwltool":
            cmd += ["--disable-color", "--outdir", str(out), "--tmpdir-prefix", f"{tmp}/",
                    "--tmp-outdir-prefix", f"{tmp}/", "--cidfile-dir", str(work / "cid")]
            if self.jobs > 1:
                cmd += ["--parallel", "--parallel-max", str(self.jobs)]
        else:
            store = self.job_store or str(work / "jobstore")
            cmd += ["--jobStore", store, "--batchSystem", self.batch_system or "single_machine",
                    "--outdir", str(out), "--tmpdir-prefix", f"{tmp}/", "--tmp-outdir-prefix", f"{tmp}/",
                    "--workDir", str(work / "toil-work"), "--writeLogs", str(work / "job-logs"),
                    "--logLevel", "INFO", "--clean", "always", "--disableProgress",
                    # no --cidfile-dir: with it, Toil 9.6's worker fails every Docker job after it ran (measured
                    # here); docker_shim gives each container a cidfile of its own instead
                    "--no-prepull",           # the images are the overrides', not the files' defaults
                    "--retryCount", "0"]      # a failed or timed-out job is a result, not a glitch to retry
            if (self.batch_system or "single_machine") == "single_machine":
                cmd += ["--maxCores", str(self.jobs), "--defaultCores", "1", "--maxLocalJobs", str(self.jobs + 1)]
            else:
                cmd += ["--maxJobs", str(self.jobs)]
        cmd += ["--enable-ext"]             # cwltool:CUDARequirement (evaluate-gpu.cwl)
        if self.no_container:
            cmd += ["--no-container"]
        elif self.singularity:
            cmd += ["--singularity"]
        kept = [v for v in PRESERVED if v in os.environ]
        if kept and (self.no_container or self.singularity):      # never into a submission's Docker container
            cmd += ["--preserve-environment", *kept]
        if overrides is not None:
            cmd += ["--overrides", str(overrides)]
        return cmd + self.extra + [str(cwl), str(job)]

    def environment(self, work: Path) -> dict:
        """This process's environment with this interpreter's folder first on PATH and, for Docker, the
        ``docker`` of ``docker_shim`` (a time limit that holds) before the real one."""
        env = dict(os.environ)
        path = [str(Path(sys.executable).parent), env.get("PATH", "")]
        real = shutil.which("docker")
        if real and not self.no_container and not self.singularity:
            shim = work / "bin" / "docker"
            shim.parent.mkdir(parents=True, exist_ok=True)
            shim.write_text("#!/bin/sh\n# written by ra2 (workflows/docker_shim.py): the engines' docker, with a "
                            "time limit that holds\n"
                            f"exec {shlex.quote(sys.executable)} -m workflows.docker_shim {shlex.quote(real)} \"$@\"\n")
            shim.chmod(0o755)
            path.insert(0, str(shim.parent))
            env["RA2_DOCKER_STOPPED_DIR"] = str(work / "cid")
        env["PATH"] = os.pathsep.join(p for p in path if p)
        here = str(HERE.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
        return env

    # ------------------------------------------------------------------ a run
    def run(self, cwl: Path, job: dict, work: Path, *, overrides: dict | None = None,
            timeout: float | None = None) -> Run:
        """Run ``cwl`` with ``job`` (a CWL job order) in ``work``; the log goes to ``work/engine.log``.
        ``overrides``: requirements per tool file (``{"submission.cwl": {"DockerRequirement": ...}}``), as
        the engines' ``--overrides`` file.  ``timeout``: seconds after which the engine is stopped (its
        jobs' own limits are the workflow's ``ToolTimeLimit``)."""
        work.mkdir(parents=True, exist_ok=True)
        for sub in ("tmp", "cid"):
            (work / sub).mkdir(exist_ok=True)
        job_path = work / "job.json"
        job_path.write_text(json.dumps(job, indent=1) + "\n")
        over_path = None
        if overrides:
            over_path = work / "overrides.json"
            over_path.write_text(json.dumps({
                "cwltool:overrides": {str(workflow(name)): {"requirements": reqs} for name, reqs in overrides.items()},
                "$namespaces": {"cwltool": CWLTOOL_NS}}, indent=1) + "\n")
        cmd = self.command(cwl, job_path, work, overrides=over_path)
        log_path, out_path = work / "engine.log", work / "engine-outputs.json"
        start = time.time()
        with open(log_path, "w") as log, open(out_path, "w") as out:
            log.write(f"ra2: {shlex.join(cmd)}\n")
            log.flush()
            proc = subprocess.Popen(cmd, stdout=out, stderr=log, stdin=subprocess.DEVNULL, cwd=work,
                                    env=self.environment(work), start_new_session=True)
            with _RUNNING_LOCK:
                _RUNNING.add(proc)
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    rc = proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rc = proc.wait()
                log.write(f"\nra2: the engine ran past {timeout:.0f} s and was stopped\n")
            except BaseException:          # Ctrl-C or SIGTERM: stop the engine (and so its jobs) first
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                raise
            finally:
                with _RUNNING_LOCK:
                    _RUNNING.discard(proc)
        try:
            outputs = json.loads(out_path.read_text() or "null")
        except json.JSONDecodeError:
            outputs = None
        return Run(rc, outputs if isinstance(outputs, dict) else None, log_path, cmd, time.time() - start)


def output_path(value) -> Path | None:
    """The local path of a File or Directory output (None for a null output)."""
    if not isinstance(value, dict):
        return None
    if value.get("path"):
        return Path(value["path"])
    loc = value.get("location", "")
    return Path(loc[len("file://"):]) if loc.startswith("file://") else None


def file_input(path) -> dict:
    return {"class": "File", "path": str(Path(path).resolve())}


def dir_input(path) -> dict:
    return {"class": "Directory", "path": str(Path(path).resolve())}
