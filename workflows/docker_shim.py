"""``docker`` as the CWL engines call it, with a time limit that holds.

cwltool (and Toil, which runs cwltool's jobs) ends a job past its ``ToolTimeLimit`` by sending
SIGTERM to the ``docker run`` client.  The client passes the signal on to the container, where a
process 1 without a handler for it ignores it (``docker run`` without ``--init``): measured here, a
submission running ``sleep 600`` under a 5-s limit ran its 10 minutes and was reported a success.
The engines run this module in place of ``docker`` (``engine.Run`` puts a ``docker`` that calls it
first on their PATH): every call but ``run`` goes to the real client unchanged; a ``run`` that is
sent SIGTERM or SIGINT passes SIGTERM to its container (``docker kill --signal TERM``, by the
``--cidfile`` the engines give), waits ``RA2_DOCKER_GRACE`` seconds (default 10) for it to stop,
then kills it, and exits non-zero, so the engine sees the job fail; it leaves a file ``stopped-PID`` in
``RA2_DOCKER_STOPPED_DIR`` (the run's work folder), so that the runner knows (Toil keeps no log of a
failed job's time limit).

    python -m workflows.docker_shim REAL_DOCKER ARG...
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def _cid_arg(args: list[str]) -> str | None:
    """The --cidfile path of a ``docker run`` command line (options before the image only)."""
    for i, a in enumerate(args[1:], start=1):
        if a.startswith("--cidfile="):
            return a.split("=", 1)[1]
        if a == "--cidfile" and i + 1 < len(args):
            return args[i + 1]
        if not a.startswith("-"):        # the image: what follows is the container's command
            return None
    return None


def _cid(args: list[str]) -> str | None:
    path = _cid_arg(args)
    if path:
        try:
            with open(path) as fh:
                return fh.read().strip() or None
        except OSError:
            return None
    return None


def main(argv: list[str]) -> int:
    real, args = argv[0], argv[1:]
    if not args or args[0] != "run":
        os.execv(real, [real, *args])
    marks = os.environ.get("RA2_DOCKER_STOPPED_DIR")
    if marks and _cid_arg(args) is None:    # Toil gives no --cidfile: one of ours, to find the container by
        args = [args[0], f"--cidfile={os.path.join(marks, f'shim-{os.getpid()}.cid')}", *args[1:]]
    stopped: list[float] = []

    def stop(signum, frame):            # noqa: ARG001 - a signal handler's signature
        if not stopped:
            stopped.append(time.monotonic())

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    proc = subprocess.Popen([real, *args], start_new_session=True)   # the signal is ours to pass on
    grace = float(os.environ.get("RA2_DOCKER_GRACE", "10"))
    told = killed = False
    while proc.poll() is None:
        if stopped:
            cid = _cid(args)
            if not told:
                told = True
                if cid:
                    subprocess.run([real, "kill", "--signal", "TERM", cid], capture_output=True, check=False)
                else:
                    proc.terminate()
            elif not killed and time.monotonic() - stopped[0] > grace:
                killed = True
                if cid:
                    subprocess.run([real, "kill", cid], capture_output=True, check=False)
                proc.kill()
        time.sleep(0.2)
    rc = proc.returncode
    if stopped:
        if marks:                       # tells the runner that the engine stopped a container (its time limit)
            try:
                with open(os.path.join(marks, f"stopped-{os.getpid()}"), "w") as fh:
                    fh.write(" ".join([real, *args]) + "\n")
            except OSError:
                pass
        print(f"ra2 docker: the container was stopped ({'killed' if killed else 'SIGTERM'}) at the engine's "
              "request (time limit or interrupt)", file=sys.stderr)
        return rc if rc not in (0, None) else 143
    return rc


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
